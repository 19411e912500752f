#include "args.h"

#include <cmath>

namespace tether {
namespace {

[[noreturn]] void Misuse(const Napi::CallbackInfo& info, const char* name, const char* what) {
  throw Napi::TypeError::New(info.Env(), std::string(name) + " must be " + what);
}

}  // namespace

int64_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min,
               int64_t max) {
  if (!info[i].IsNumber()) Misuse(info, name, "an integer");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (std::trunc(d) != d || d < static_cast<double>(min) || d > static_cast<double>(max)) {
    std::string range = "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
    Misuse(info, name, range.c_str());
  }
  return static_cast<int64_t>(d);
}

int ArgFd(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return static_cast<int>(ArgInt(info, i, name, 0, INT32_MAX));
}

uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return static_cast<uint32_t>(ArgInt(info, i, name, 0, UINT32_MAX));
}

bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsBoolean()) Misuse(info, name, "a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsString()) Misuse(info, name, "a string");
  std::string s = info[i].As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) Misuse(info, name, "a string without NUL bytes");
  return s;
}

Napi::Buffer<uint8_t> ArgBuffer(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsBuffer()) Misuse(info, name, "a Buffer");
  return info[i].As<Napi::Buffer<uint8_t>>();
}

std::optional<Napi::Buffer<uint8_t>> ArgBufferOrNull(const Napi::CallbackInfo& info, size_t i,
                                                     const char* name) {
  if (info[i].IsNull()) return std::nullopt;
  if (!info[i].IsBuffer()) Misuse(info, name, "a Buffer or null");
  return info[i].As<Napi::Buffer<uint8_t>>();
}

Napi::Function ArgFunction(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsFunction()) Misuse(info, name, "a function");
  return info[i].As<Napi::Function>();
}

}  // namespace tether
