// Argument checks for entry points: each returns argument `i` or throws a TypeError naming it.
#pragma once

#include <napi.h>

#include <cstdint>
#include <optional>
#include <string>

namespace tether {

// An integer in [min, max] (a JS number with no fraction).
int64_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min,
               int64_t max);
// A file descriptor: an integer in [0, INT32_MAX].
int ArgFd(const Napi::CallbackInfo& info, size_t i, const char* name);
// An integer in [0, UINT32_MAX].
uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, const char* name);
bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* name);
std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* name);
Napi::Buffer<uint8_t> ArgBuffer(const Napi::CallbackInfo& info, size_t i, const char* name);
std::optional<Napi::Buffer<uint8_t>> ArgBufferOrNull(const Napi::CallbackInfo& info, size_t i,
                                                     const char* name);
Napi::Function ArgFunction(const Napi::CallbackInfo& info, size_t i, const char* name);

}  // namespace tether
