// One direction of a relay (relay.h): src → pipe → dst by splice(2), non-blocking, until it would
// block. MESH.md §3: on kTLS RX, splice fails with EINVAL when the next record is not data, and
// recvmsg reads it: tickets are skipped, close_notify ends that direction, anything else fails.
#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "ktls.h"
#include "relay.h"

namespace tether {
namespace {

constexpr uint8_t kAlert = 21;
constexpr uint8_t kHandshake = 22;
constexpr uint8_t kApplicationData = 23;
constexpr uint8_t kNewSessionTicket = 4;   // handshake message type (RFC 8446 4)
constexpr size_t kMaxRecord = 16384 + 256;  // TLS 1.3 plaintext limit, with room

// Only whole NewSessionTickets (a record may hold several): a KeyUpdate cannot be followed on 6.1.
std::string JudgeHandshake(const uint8_t* buf, ssize_t n) {
  ssize_t at = 0;
  while (at < n) {
    if (at + 4 > n) return "handshake:-1";
    if (buf[at] != kNewSessionTicket) return "handshake:" + std::to_string(buf[at]);
    at += 4 + ((buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]);
  }
  return at == n && n > 0 ? "" : "handshake:-1";
}

// splice's EINVAL on kTLS RX: a non-data record is next. Reads and judges it.
std::string ControlRecord(Direction& d) {
  uint8_t buf[kMaxRecord];
  uint8_t type = 0;
  ssize_t n = RecvRecord(d.src, buf, sizeof(buf), &type);
  std::string why;
  if (n < 0) {
    why = n == -EBADMSG ? "EBADMSG" : ErrnoReason(static_cast<int>(-n));
  } else if (type == kHandshake) {
    why = JudgeHandshake(buf, n);
  } else if (type == kAlert && n == 2 && buf[0] == 1 && buf[1] == 0) {
    d.src_eof = true;  // close_notify
  } else if (type == kAlert && n == 2) {
    why = "alert:" + std::to_string(buf[1]);
  } else {
    why = type == kApplicationData ? ErrnoReason(EINVAL) : "record:" + std::to_string(type);
  }
  if (n > 0) std::memset(buf, 0, static_cast<size_t>(n));  // a ticket's secrets
  return why;
}

// The source ended and everything reached dst: plain EOF becomes close_notify then FIN on the
// kTLS side; close_notify becomes FIN on the plain side.
std::string CarryEnd(Relay* r, Direction& d) {
  if (!d.from_tls) {
    static const uint8_t kCloseNotify[2] = {1, 0};  // alert level warning, close_notify
    ssize_t n = SendRecord(d.dst, kAlert, kCloseNotify, sizeof(kCloseNotify));
    if (n == -EAGAIN) return "";  // the send buffer is full: again on EPOLLOUT
    if (n < 0) return ErrnoReason(static_cast<int>(-n));
  }
  if (shutdown(d.dst, SHUT_WR) != 0) return ErrnoReason(errno);
  d.done = true;
  r->last = d.from_tls ? "close_notify" : "eof";
  return "";
}

}  // namespace

std::string ErrnoReason(int err) {
  const char* name = strerrorname_np(err);
  return std::string("error:") + (name ? name : std::to_string(err));
}

std::string Pump(Relay* r, Direction& d) {
  while (!d.done) {
    bool progressed = false;
    if (!d.src_eof && d.pending < d.capacity) {
      ssize_t n = splice(d.src, nullptr, d.pipe_w, nullptr, d.capacity - d.pending, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
      if (n > 0) {
        d.pending += static_cast<size_t>(n);
        progressed = true;
      } else if (n == 0) {
        // The kTLS side's EOF before close_notify: the stream may have been cut short.
        if (d.from_tls) return "truncated";
        d.src_eof = progressed = true;
      } else if (errno == EINVAL && d.from_tls) {
        std::string why = ControlRecord(d);
        if (!why.empty()) return why;
        progressed = true;
      } else if (errno != EAGAIN && errno != EINTR) {
        // EAGAIN is the socket being empty or the pipe being full: draining below tells them apart.
        return errno == EBADMSG ? "EBADMSG" : ErrnoReason(errno);
      }
    }
    if (d.pending > 0) {
      // Exactly what the pipe holds, without SPLICE_F_MORE, so kTLS closes the record.
      ssize_t n = splice(d.pipe_r, nullptr, d.dst, nullptr, d.pending, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
      if (n > 0) {
        d.pending -= static_cast<size_t>(n);
        d.moved += static_cast<uint64_t>(n);
        (d.from_tls ? r->counts->from_tls : r->counts->to_tls).store(d.moved, std::memory_order_relaxed);
        progressed = true;
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        return ErrnoReason(errno);  // Node ignores SIGPIPE: EPIPE comes back here
      }
    }
    if (d.src_eof && d.pending == 0) return CarryEnd(r, d);
    if (!progressed) break;
  }
  return "";
}

}  // namespace tether
