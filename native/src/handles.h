// Handles: type-tagged Napi::External objects over a small heap Box whose pointer becomes
// nullptr on close. Using a closed handle throws TypeError "closed"; a finalizer frees
// whatever is still open when the External is garbage collected.
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>

#include <string>

namespace tether {

struct Ring;  // ringbuf.cc

// Each kind of handle: its type tag, its name in TypeErrors, and what the finalizer calls.
template <typename T>
struct Kind;

template <>
struct Kind<bpf_object> {
  static constexpr napi_type_tag tag{0x62e32d5fe44be3ac, 0xd19ab0fb5c530f5d};
  static constexpr const char* name = "an ObjectHandle";
  static void Free(bpf_object* obj) { bpf_object__close(obj); }
};

template <>
struct Kind<bpf_link> {
  static constexpr napi_type_tag tag{0x1078a857e269b3ca, 0x22df851d59b5502e};
  static constexpr const char* name = "a LinkHandle";
  static void Free(bpf_link* link) { bpf_link__destroy(link); }
};

template <>
struct Kind<Ring> {
  static constexpr napi_type_tag tag{0x4b232acf6d85cc13, 0xafc272a3b6447f75};
  static constexpr const char* name = "a RingHandle";
  static void Free(Ring* ring);  // ringbuf.cc
};

// What an External points to. `path` is the object file of an ObjectHandle (for errors).
template <typename T>
struct Box {
  T* ptr;
  std::string path;
};

template <typename T>
Napi::Value Wrap(Napi::Env env, T* ptr, std::string path = {}) {
  auto handle = Napi::External<Box<T>>::New(
      env, new Box<T>{ptr, std::move(path)}, [](Napi::Env, Box<T>* box) {
        if (box->ptr) Kind<T>::Free(box->ptr);
        delete box;
      });
  handle.TypeTag(&Kind<T>::tag);
  return handle;
}

// The Box behind argument i, open or closed; a TypeError unless it is a handle of kind T.
template <typename T>
Box<T>* Unwrap(const Napi::CallbackInfo& info, size_t i) {
  Napi::Value v = info[i];
  if (!v.IsExternal() || !v.As<Napi::External<Box<T>>>().CheckTypeTag(&Kind<T>::tag)) {
    throw Napi::TypeError::New(info.Env(), std::string("expected ") + Kind<T>::name);
  }
  return v.As<Napi::External<Box<T>>>().Data();
}

// The Box behind argument i, which must still be open.
template <typename T>
Box<T>* Open(const Napi::CallbackInfo& info, size_t i) {
  Box<T>* box = Unwrap<T>(info, i);
  if (!box->ptr) throw Napi::TypeError::New(info.Env(), "closed");
  return box;
}

}  // namespace tether
