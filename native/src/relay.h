// ktlsRelay's state: one plain socket and one kTLS socket joined by two pipes, moved by
// splice(2) on the one relay thread of the process (relay.cc).
#pragma once

#include <napi.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace tether {

// One direction: src → pipe → dst.
struct Direction {
  int src = -1;
  int dst = -1;
  int pipe_r = -1;
  int pipe_w = -1;
  size_t capacity = 0;  // the pipe's size in bytes
  size_t pending = 0;   // bytes in the pipe, not yet in dst
  uint64_t moved = 0;   // bytes delivered to dst
  bool from_tls = false;
  bool src_eof = false;  // EOF (plain) or close_notify (kTLS) read
  bool done = false;     // the end was carried to dst
};

// Bytes delivered so far each way: stored by the relay thread, read by ktlsRelayCounts.
struct RelayCounts {
  std::atomic<uint64_t> to_tls{0};
  std::atomic<uint64_t> from_tls{0};
};

struct Relay {
  uint64_t id = 0;
  int plain = -1;
  int tls = -1;
  Direction up;    // plain → kTLS
  Direction down;  // kTLS → plain
  std::shared_ptr<RelayCounts> counts = std::make_shared<RelayCounts>();
  Napi::ThreadSafeFunction on_end;
  std::string last;    // "eof" or "close_notify": which end came last, once both came
  std::string reason;  // set on failure
  bool ended = false;
};

// relay_pump.cc, on the relay thread: moves what it can in direction d until it would block,
// carrying its end when the source ended. Returns "" while the relay goes on, else why it failed
// ("truncated", "EBADMSG", "alert:<n>", "handshake:<n>", "record:<n>", "error:<ERRNO>").
std::string Pump(Relay* r, Direction& d);

// "error:" and the errno's name.
std::string ErrnoReason(int err);

}  // namespace tether
