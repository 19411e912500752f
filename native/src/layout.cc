// sizeof and offsetof of every struct in tether_abi.h, as this compiler lays them out.
#include <cstddef>
#include <initializer_list>
#include <utility>

#include "api.h"
#include "layout.gen.h"
#include "tether_abi.h"

namespace tether {
namespace {

using Fields = std::initializer_list<std::pair<const char*, size_t>>;

void Add(Napi::Object out, const char* name, size_t size, Fields fields) {
  Napi::Object offsets = Napi::Object::New(out.Env());
  for (const auto& [field, offset] : fields) offsets.Set(field, offset);
  Napi::Object s = Napi::Object::New(out.Env());
  s.Set("size", size);
  s.Set("fields", offsets);
  out.Set(name, s);
}

}  // namespace

// One block per struct of tether_abi.h, from the generated list (gen-abi writes it from BTF,
// so a struct added to the header is reported without editing this file).
#define F(field) {#field, offsetof(S, field)},
#define S(name, fields)                         \
  {                                             \
    using S = name;                             \
    Add(out, #name, sizeof(S), {fields});       \
  }

Napi::Value layout(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  TETHER_ABI_STRUCTS(S, F)
  return out;
}

#undef S
#undef F

}  // namespace tether
