// kTLS on a TCP socket (linux/tls.h): the ULP, the crypto_info TypeScript packed, records of a
// given type. No TLS logic here: keys, sequence numbers and what a record means are mesh/'s.
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "api.h"
#include "args.h"
#include "errors.h"
#include "ktls.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

namespace tether {

ssize_t RecvRecord(int fd, uint8_t* buf, size_t len, uint8_t* type) {
  iovec iov{buf, len};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(uint8_t))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
  if (n < 0) return -errno;
  *type = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_TLS && c->cmsg_type == TLS_GET_RECORD_TYPE) *type = *CMSG_DATA(c);
  }
  return n;
}

ssize_t SendRecord(int fd, uint8_t type, const uint8_t* data, size_t len) {
  iovec iov{const_cast<uint8_t*>(data), len};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(uint8_t))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_TLS;
  c->cmsg_type = TLS_SET_RECORD_TYPE;
  c->cmsg_len = CMSG_LEN(sizeof(uint8_t));
  *CMSG_DATA(c) = type;
  ssize_t n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  return n < 0 ? -errno : n;
}

namespace {

// One pending ktlsRecvRecord: the fd watched on the JS thread's loop (as ringbuf.cc does), so
// nothing blocks and no thread is involved. The fd must not be one libuv already watches: a
// dup() of a Node socket's fd, never the fd itself.
struct RecvWait {
  uv_poll_t poll;
  uv_timer_t timer;
  napi_env env;
  Napi::Promise::Deferred deferred;
  // Settling from a libuv callback needs a callback scope, or the promise's reactions wait
  // for whatever JS runs next.
  std::unique_ptr<Napi::AsyncContext> async;
  int fd;
  std::vector<uint8_t> buf;
  int open_handles = 0;

  RecvWait(napi_env e, int f, size_t max)
      : env(e), deferred(Napi::Promise::Deferred::New(e)), fd(f), buf(max) {}
};

// Settles with {type, data}, null at EOF, or the error; true when settled.
bool TryRecv(Napi::Env env, RecvWait* w) {
  uint8_t type = 0;
  ssize_t n = RecvRecord(w->fd, w->buf.data(), w->buf.size(), &type);
  if (n == -EAGAIN || n == -EWOULDBLOCK || n == -EINTR) return false;
  if (n < 0) {
    w->deferred.Reject(SystemError(env, static_cast<int>(-n), "recvmsg").Value());
  } else if (n == 0 && type == 0) {
    w->deferred.Resolve(env.Null());
  } else {
    Napi::Object out = Napi::Object::New(env);
    out.Set("type", type);
    out.Set("data", Napi::Buffer<uint8_t>::Copy(env, w->buf.data(), static_cast<size_t>(n)));
    w->deferred.Resolve(out);
  }
  if (n > 0) std::memset(w->buf.data(), 0, static_cast<size_t>(n));  // plaintext: not left behind
  return true;
}

void Finish(RecvWait* w) {
  uv_poll_stop(&w->poll);
  uv_timer_stop(&w->timer);
  auto closed = [](uv_handle_t* h) {
    RecvWait* w = static_cast<RecvWait*>(h->data);
    if (--w->open_handles == 0) delete w;
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&w->timer), closed);
}

void OnReadable(uv_poll_t* poll, int status, int /*events*/) {
  RecvWait* w = static_cast<RecvWait*>(poll->data);
  Napi::Env env(w->env);
  Napi::HandleScope scope(env);
  Napi::CallbackScope callback(env, *w->async);
  if (status < 0) {
    w->deferred.Reject(SystemError(env, -status, "uv_poll").Value());
  } else if (!TryRecv(env, w)) {
    return;
  }
  Finish(w);
}

void OnTimeout(uv_timer_t* timer) {
  RecvWait* w = static_cast<RecvWait*>(timer->data);
  Napi::Env env(w->env);
  Napi::HandleScope scope(env);
  Napi::CallbackScope callback(env, *w->async);
  w->deferred.Reject(SystemError(env, ETIMEDOUT, "recvmsg", {}, "no record in time").Value());
  Finish(w);
}

int DirOpt(const Napi::CallbackInfo& info, size_t i) {
  std::string dir = ArgString(info, i, "direction");
  if (dir == "tx") return TLS_TX;
  if (dir == "rx") return TLS_RX;
  throw Napi::TypeError::New(info.Env(), "direction must be 'tx' or 'rx'");
}

}  // namespace

Napi::Value ktlsUlp(const Napi::CallbackInfo& info) {
  static const char kUlp[] = "tls";
  if (setsockopt(ArgFd(info, 0, "fd"), SOL_TCP, TCP_ULP, kUlp, sizeof(kUlp)) != 0) {
    throw SystemError(info.Env(), errno, "setsockopt", {}, "TCP_ULP \"tls\"");
  }
  return info.Env().Undefined();
}

Napi::Value ktlsSetCrypto(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  int opt = DirOpt(info, 1);
  Napi::Buffer<uint8_t> crypto = ArgBuffer(info, 2, "cryptoInfo");
  if (setsockopt(fd, SOL_TLS, opt, crypto.Data(), static_cast<socklen_t>(crypto.Length())) != 0) {
    throw SystemError(info.Env(), errno, "setsockopt", {}, opt == TLS_TX ? "SOL_TLS TLS_TX" : "SOL_TLS TLS_RX");
  }
  return info.Env().Undefined();
}

Napi::Value ktlsCryptoInfoSizes(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("aesGcm128", sizeof(tls12_crypto_info_aes_gcm_128));
  out.Set("aesGcm256", sizeof(tls12_crypto_info_aes_gcm_256));
  out.Set("chacha20Poly1305", sizeof(tls12_crypto_info_chacha20_poly1305));
  return out;
}

Napi::Value ktlsSendRecord(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  uint8_t type = static_cast<uint8_t>(ArgInt(info, 1, "type", 0, 255));
  Napi::Buffer<uint8_t> data = ArgBuffer(info, 2, "data");
  ssize_t n = SendRecord(fd, type, data.Data(), data.Length());
  if (n < 0) throw SystemError(info.Env(), static_cast<int>(-n), "sendmsg", {}, "TLS_SET_RECORD_TYPE");
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

Napi::Value ktlsRecvRecord(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  size_t max = static_cast<size_t>(ArgInt(info, 1, "maxBytes", 1, 1 << 20));
  int64_t timeout_ms = ArgInt(info, 2, "timeoutMs", 0, INT32_MAX);
  auto w = std::make_unique<RecvWait>(env, fd, max);
  Napi::Promise promise = w->deferred.Promise();
  if (TryRecv(env, w.get())) return promise;

  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) throw Napi::Error::New(env, "napi_get_uv_event_loop failed");
  int err = uv_poll_init(loop, &w->poll, fd);
  if (err) throw SystemError(env, -err, "uv_poll_init");
  uv_timer_init(loop, &w->timer);
  w->async = std::make_unique<Napi::AsyncContext>(env, "tether:ktlsRecvRecord");
  RecvWait* r = w.release();  // from here on, freed through uv_close
  r->poll.data = r;
  r->timer.data = r;
  r->open_handles = 2;
  err = uv_poll_start(&r->poll, UV_READABLE | UV_DISCONNECT, OnReadable);
  if (err) {
    r->deferred.Reject(SystemError(env, -err, "uv_poll_start").Value());
    Finish(r);
    return promise;
  }
  if (timeout_ms > 0) uv_timer_start(&r->timer, OnTimeout, static_cast<uint64_t>(timeout_ms), 0);
  return promise;
}

}  // namespace tether
