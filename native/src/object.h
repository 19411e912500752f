// Looking up a program or map of an open bpf_object by name (bpf_object.cc).
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>

#include <string>

#include "handles.h"

namespace tether {

// The named program; an ENOENT NativeError carrying `object` and `program` when absent.
bpf_program* FindProgram(Napi::Env env, Box<bpf_object>* obj, const std::string& name);
// The named map; an ENOENT NativeError carrying `object` and `map` when absent.
bpf_map* FindMap(Napi::Env env, Box<bpf_object>* obj, const std::string& name);

}  // namespace tether
