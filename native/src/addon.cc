// Registration only: each entry point of api.h becomes a function of the addon's exports.
#include <napi.h>

#include "api.h"
#include "errors.h"

namespace tether {

class TetherNative : public Napi::Addon<TetherNative> {
 public:
  TetherNative(Napi::Env env, Napi::Object exports) {
    CaptureLibbpfPrint();
#define TETHER_REGISTER(name) \
  InstanceValue(#name, Napi::Function::New(env, tether::name, #name), napi_enumerable),
    DefineAddon(exports, {TETHER_ENTRY_POINTS(TETHER_REGISTER)});
#undef TETHER_REGISTER
  }
};

}  // namespace tether

using tether::TetherNative;
NODE_API_ADDON(TetherNative)
