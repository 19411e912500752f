// Every entry point of the addon, named as in ../index.d.ts, grouped by the file defining it.
#pragma once

#include <napi.h>

#define TETHER_ENTRY_POINTS(X)                                                               \
  /* bpf_object.cc */                                                                        \
  X(objectOpen) X(objectSetMapMaxEntries) X(objectSetInitialValue) X(objectSetAutoload)      \
  X(objectLoad) X(objectPrograms) X(objectMaps) X(objectMapFd) X(objectProgramFd)            \
  X(objectClose)                                                                             \
  /* bpf_link.cc */                                                                          \
  X(attachAuto) X(attachTracepoint) X(attachRawTracepoint) X(attachCgroup) X(linkPin)        \
  X(linkUnpin) X(linkDisconnect) X(linkDetach) X(linkDestroy) X(linkOpenPinned) X(linkFd)    \
  X(linkInfo)                                                                                \
  /* pin.cc */                                                                               \
  X(objGet) X(objPin)                                                                        \
  /* bpf_map.cc */                                                                           \
  X(mapInfoByFd) X(mapLookup) X(mapLookupAndDelete) X(mapUpdate) X(mapDelete) X(mapNextKey)  \
  X(possibleCpus)                                                                            \
  /* bpf_map_batch.cc */                                                                     \
  X(mapLookupBatch) X(mapUpdateBatch) X(mapDeleteBatch)                                      \
  /* ringbuf.cc */                                                                           \
  X(ringbufOpen) X(ringbufConsume) X(ringbufClose)                                           \
  /* pidfd.cc */                                                                             \
  X(pidfdOpen) X(pidfdAlive) X(pidfdSendSignal)                                              \
  /* peer.cc */                                                                              \
  X(peerCred) X(peerPidfd)                                                                   \
  /* fd.cc */                                                                                \
  X(closeFd) X(dupFd) X(resetFd) X(socketInq)                                                \
  /* ktls.cc */                                                                              \
  X(ktlsUlp) X(ktlsSetCrypto) X(ktlsCryptoInfoSizes) X(ktlsSendRecord) X(ktlsRecvRecord)     \
  /* relay.cc */                                                                             \
  X(ktlsRelay) X(ktlsRelayCounts) X(ktlsRelayCancel)                                         \
  /* layout.cc */                                                                            \
  X(layout)                                                                                  \
  /* clock.cc */                                                                             \
  X(clockBoottimeNs)

namespace tether {

#define TETHER_DECLARE(name) Napi::Value name(const Napi::CallbackInfo& info);
TETHER_ENTRY_POINTS(TETHER_DECLARE)
#undef TETHER_DECLARE

}  // namespace tether
