// Ring buffers: a libbpf ring_buffer whose epoll fd is watched with uv_poll on the JS
// thread's loop. Each wake-up consumes every available sample into one framed batch,
// [u32 length (host order)][sample][zeros to the next 8-byte boundary]..., and calls onBatch
// once with a copy of it. No threads, no timers.
#include <bpf/libbpf.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "api.h"
#include "args.h"
#include "errors.h"
#include "handles.h"

namespace tether {

struct Ring {
  uv_poll_t poll;  // poll.data points back here
  ring_buffer* rb = nullptr;
  napi_env env = nullptr;
  Napi::FunctionReference on_batch;
  std::unique_ptr<Napi::AsyncContext> async;
  std::vector<uint8_t> batch;
  int delivering = 0;  // onBatch calls on the stack: the JS references outlive them
  bool closed = false;

  ~Ring() {
    if (rb) ring_buffer__free(rb);
  }
};

namespace {

int AppendSample(void* ctx, void* data, size_t size) {
  std::vector<uint8_t>& batch = static_cast<Ring*>(ctx)->batch;
  uint32_t length = static_cast<uint32_t>(size);
  size_t at = batch.size();
  batch.resize(at + ((sizeof(length) + size + 7) & ~size_t{7}));  // the padding is zeroed
  std::memcpy(&batch[at], &length, sizeof(length));
  std::memcpy(&batch[at + sizeof(length)], data, size);
  return 0;
}

void ReleaseJs(Ring* ring) {
  ring->on_batch.Reset();
  ring->async.reset();
}

// Keeps onBatch and its async context alive while a call to it is on the stack, even if
// the call closes the ring.
struct Delivering {
  Ring* ring;
  explicit Delivering(Ring* r) : ring(r) { ++ring->delivering; }
  ~Delivering() {
    if (--ring->delivering == 0 && ring->closed) ReleaseJs(ring);
  }
};

// ring_buffer__consume into ring->batch; returns the number of samples.
int Gather(Napi::Env env, Ring* ring) {
  ring->batch.clear();
  int n = ring_buffer__consume(ring->rb);
  if (n < 0) throw SystemError(env, n, "ring_buffer__consume");
  return n;
}

// onBatch(copy of ring->batch) when anything was gathered; its exception propagates.
void Deliver(Napi::Env env, Ring* ring) {
  if (ring->batch.empty()) return;
  Napi::Buffer<uint8_t> batch =
      Napi::Buffer<uint8_t>::Copy(env, ring->batch.data(), ring->batch.size());
  ring->batch.clear();
  Delivering delivering(ring);
  ring->on_batch.MakeCallback(env.Global(), {batch}, *ring->async);
}

// A failure is raised as an uncaught exception: there is no JS caller to throw to. A
// failing ring stops being watched, lest the loop spin on it; a throwing onBatch does not.
void OnReadable(uv_poll_t* poll, int status, int /*events*/) {
  Ring* ring = static_cast<Ring*>(poll->data);
  Napi::Env env(ring->env);
  Napi::HandleScope scope(env);
  try {
    LibbpfCall call;
    if (status < 0) throw SystemError(env, -status, "uv_poll");
    Gather(env, ring);
  } catch (const Napi::Error& e) {
    uv_poll_stop(&ring->poll);
    napi_fatal_exception(env, e.Value());
    return;
  }
  try {
    Deliver(env, ring);
  } catch (const Napi::Error& e) {
    napi_fatal_exception(env, e.Value());
  }
}

}  // namespace

// Stop watching now; the Ring and its ring_buffer are freed once libuv has closed the poll.
void Kind<Ring>::Free(Ring* ring) {
  ring->closed = true;
  uv_poll_stop(&ring->poll);
  if (ring->delivering == 0) ReleaseJs(ring);
  uv_close(reinterpret_cast<uv_handle_t*>(&ring->poll),
           [](uv_handle_t* poll) { delete static_cast<Ring*>(poll->data); });
}

Napi::Value ringbufOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int map_fd = ArgFd(info, 0, "mapFd");
  Napi::Function on_batch = ArgFunction(info, 1, "onBatch");
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    throw Napi::Error::New(env, "napi_get_uv_event_loop failed");
  }
  auto ring = std::make_unique<Ring>();
  ring->env = env;
  ring->on_batch = Napi::Persistent(on_batch);
  ring->async = std::make_unique<Napi::AsyncContext>(env, "tether:ringbuf");
  LibbpfCall call;
  ring->rb = ring_buffer__new(map_fd, AppendSample, ring.get(), nullptr);
  if (!ring->rb) throw SystemError(env, errno, "ring_buffer__new");
  int err = uv_poll_init(loop, &ring->poll, ring_buffer__epoll_fd(ring->rb));
  if (err) throw SystemError(env, -err, "uv_poll_init");

  Ring* r = ring.release();  // from here on, freed through uv_close
  r->poll.data = r;
  err = uv_poll_start(&r->poll, UV_READABLE, OnReadable);
  if (err) {
    Kind<Ring>::Free(r);
    throw SystemError(env, -err, "uv_poll_start");
  }
  return Wrap(env, r);
}

Napi::Value ringbufConsume(const Napi::CallbackInfo& info) {
  Ring* ring = Open<Ring>(info, 0)->ptr;
  LibbpfCall call;
  int n = Gather(info.Env(), ring);
  Deliver(info.Env(), ring);
  return Napi::Number::New(info.Env(), n);
}

Napi::Value ringbufClose(const Napi::CallbackInfo& info) {
  Box<Ring>* box = Unwrap<Ring>(info, 0);
  if (box->ptr) Kind<Ring>::Free(box->ptr);
  box->ptr = nullptr;
  return info.Env().Undefined();
}

}  // namespace tether
