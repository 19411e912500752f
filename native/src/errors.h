// NativeError: Node's system-error shape, plus the names of what the call worked on.
#pragma once

#include <napi.h>

#include <initializer_list>
#include <string>

namespace tether {

// One property naming what a call worked on: "path", "object", "program" or "map".
// An empty value means "not applicable": the property is left out.
struct Context {
  const char* key;
  std::string value;
};

// An Error with message "<call>: <strerror(err)>[: detail] (key 'value', ...)", code
// (errno name), errno (-err), syscall (call), the context properties, and `log` when libbpf
// printed anything during the current call. `err` is a positive errno.
Napi::Error SystemError(Napi::Env env, int err, const char* call,
                        std::initializer_list<Context> context = {},
                        const std::string& detail = {});

// Route libbpf's printing into the per-call log (idempotent; call once per addon instance).
void CaptureLibbpfPrint();

// Clears the libbpf log on entry and exit: declare one in every entry point that calls
// libbpf, so a SystemError made inside it carries exactly what that call printed.
class LibbpfCall {
 public:
  LibbpfCall();
  ~LibbpfCall();
  LibbpfCall(const LibbpfCall&) = delete;
  LibbpfCall& operator=(const LibbpfCall&) = delete;
};

}  // namespace tether
