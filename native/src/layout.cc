// sizeof and offsetof of every struct in tether_abi.h, as this compiler lays them out.
#include <cstddef>
#include <initializer_list>
#include <utility>

#include "api.h"
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

// F(field) is {"field", offsetof(S, field)} for the struct S of the enclosing block.
#define F(field) \
  { #field, offsetof(S, field) }

Napi::Value layout(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  {
    using S = tether_proc_event;
    Add(out, "tether_proc_event", sizeof(S),
        {F(kind), F(tgid), F(pid), F(ppid), F(start_ns), F(parent_start_ns), F(cgroup_id),
         F(exe_ino), F(ktime_ns), F(exe_dev), F(uid), F(gid), F(exit_code), F(comm),
         F(filename)});
  }
  {
    using S = tether_err_key;
    Add(out, "tether_err_key", sizeof(S), {F(file), F(line), F(err)});
  }
  return out;
}

#undef F

}  // namespace tether
