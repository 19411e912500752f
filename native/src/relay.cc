// ktlsRelay: a plain socket and a kTLS socket relayed both ways (relay_pump.cc) on ONE native
// thread for every relay of the process (not the libuv threadpool, whose few threads a
// long-lived relay would hold). Its end reaches JS once, through a ThreadSafeFunction. The relay
// owns both fds and closes them; on failure it resets both (RST).
#include "relay.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "api.h"
#include "args.h"
#include "errors.h"

namespace tether {
namespace {

constexpr size_t kPipeSize = 256 << 10;

struct Ended {
  uint64_t to_tls;
  uint64_t from_tls;
  std::string reason;
};

class RelayThread {
 public:
  // One per process, started on first use and never stopped: it sleeps in epoll_wait when no
  // relay is live. Shared by every Node environment (each relay reaches its own through its
  // ThreadSafeFunction), hence a static rather than addon instance data.
  static RelayThread& Get() {
    static RelayThread* thread = new RelayThread();
    return *thread;
  }

  void Add(Relay* r) {
    Post([&] {
      adds_.push_back(r);
      counts_[r->id] = r->counts;
    });
  }
  void Cancel(uint64_t id) { Post([&] { cancels_.push_back(id); }); }

  // The counts of a live relay; nullptr once it has ended.
  std::shared_ptr<RelayCounts> Counts(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = counts_.find(id);
    return it == counts_.end() ? nullptr : it->second;
  }

 private:
  RelayThread() {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    evfd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (epfd_ < 0 || evfd_ < 0) std::abort();  // no fds left at start-up: nothing to fall back to
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev);
    std::thread([this] { Run(); }).detach();
  }

  template <typename F>
  void Post(F f) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      f();
    }
    uint64_t one = 1;
    (void)!write(evfd_, &one, sizeof(one));
  }

  void Run() {
    epoll_event events[64];
    for (;;) {
      int n = epoll_wait(epfd_, events, 64, -1);
      for (int i = 0; i < n; i++) {
        Relay* r = static_cast<Relay*>(events[i].data.ptr);
        if (r == nullptr) {
          TakePosted();
        } else if (!r->ended) {
          PumpBoth(r);
        }
      }
      for (Relay* r : dead_) delete r;  // only now: a later event of this batch may name it
      dead_.clear();
    }
  }

  void TakePosted() {
    uint64_t count;
    (void)!read(evfd_, &count, sizeof(count));
    std::vector<Relay*> adds;
    std::vector<uint64_t> cancels;
    {
      std::lock_guard<std::mutex> lock(mu_);
      adds.swap(adds_);
      cancels.swap(cancels_);
    }
    for (Relay* r : adds) Start(r);
    for (uint64_t id : cancels) {
      auto it = live_.find(id);
      if (it != live_.end()) Fail(it->second, "cancelled");
    }
  }

  void Start(Relay* r) {
    live_[r->id] = r;
    // Edge-triggered: every wake-up pumps both directions until each would block.
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = r;
    for (int fd : {r->plain, r->tls}) {
      if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) return Fail(r, ErrnoReason(errno));
    }
    PumpBoth(r);
  }

  void PumpBoth(Relay* r) {
    std::string failed = Pump(r, r->up);
    if (failed.empty()) failed = Pump(r, r->down);
    if (!failed.empty()) return Fail(r, failed);
    if (r->up.done && r->down.done) End(r);
  }

  void Fail(Relay* r, const std::string& reason) {
    r->reason = reason;
    Finish(r, true);
  }

  void End(Relay* r) {
    r->reason = r->last;
    Finish(r, false);
  }

  void Finish(Relay* r, bool reset) {
    r->ended = true;
    live_.erase(r->id);
    {
      std::lock_guard<std::mutex> lock(mu_);
      counts_.erase(r->id);
    }
    for (int fd : {r->plain, r->tls}) {
      epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
      if (reset) {
        linger l{1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
      }
      close(fd);
    }
    for (int fd : {r->up.pipe_r, r->up.pipe_w, r->down.pipe_r, r->down.pipe_w}) close(fd);
    auto* ended = new Ended{r->up.moved, r->down.moved, r->reason};
    napi_status s = r->on_end.BlockingCall(ended, [](Napi::Env env, Napi::Function cb, Ended* e) {
      Napi::Object out = Napi::Object::New(env);
      out.Set("toTls", static_cast<double>(e->to_tls));
      out.Set("fromTls", static_cast<double>(e->from_tls));
      out.Set("reason", e->reason);
      delete e;
      cb.Call({out});
    });
    if (s != napi_ok) delete ended;  // the environment is going away
    r->on_end.Release();
    dead_.push_back(r);
  }

  int epfd_ = -1;
  int evfd_ = -1;
  std::mutex mu_;
  std::vector<Relay*> adds_;     // under mu_
  std::vector<uint64_t> cancels_;  // under mu_
  std::unordered_map<uint64_t, std::shared_ptr<RelayCounts>> counts_;  // under mu_: live relays
  // The relay thread's own:
  std::unordered_map<uint64_t, Relay*> live_;
  std::vector<Relay*> dead_;
};

// A pipe of kPipeSize (or what the system allows) for one direction.
void OpenPipe(Napi::Env env, Direction& d) {
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) throw SystemError(env, errno, "pipe2");
  d.pipe_r = fds[0];
  d.pipe_w = fds[1];
  fcntl(d.pipe_w, F_SETPIPE_SZ, static_cast<int>(kPipeSize));  // best effort: the default is 64 KiB
  int size = fcntl(d.pipe_w, F_GETPIPE_SZ);
  d.capacity = size > 0 ? static_cast<size_t>(size) : 65536;
}

void SetNonblocking(Napi::Env env, int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) throw SystemError(env, errno, "fcntl", {}, "O_NONBLOCK");
}

uint64_t next_id = 1;  // JS thread only (one counter for all environments is fine: ids are opaque)

}  // namespace

Napi::Value ktlsRelay(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int plain = ArgFd(info, 0, "plainFd");
  int tls = ArgFd(info, 1, "tlsFd");
  Napi::Function on_end = ArgFunction(info, 2, "onEnd");
  if (plain == tls) throw Napi::TypeError::New(env, "plainFd and tlsFd must differ");
  SetNonblocking(env, plain);
  SetNonblocking(env, tls);
  auto r = std::make_unique<Relay>();
  r->plain = plain;
  r->tls = tls;
  try {
    OpenPipe(env, r->up);
    OpenPipe(env, r->down);
  } catch (...) {
    for (int fd : {r->up.pipe_r, r->up.pipe_w, r->down.pipe_r, r->down.pipe_w}) {
      if (fd >= 0) close(fd);
    }
    throw;
  }
  r->up.src = plain;
  r->up.dst = tls;
  r->down.src = tls;
  r->down.dst = plain;
  r->down.from_tls = true;
  r->id = next_id++;
  r->on_end = Napi::ThreadSafeFunction::New(env, on_end, "tether:ktlsRelay", 0, 1);
  uint64_t id = r->id;
  RelayThread::Get().Add(r.release());
  return Napi::Number::New(env, static_cast<double>(id));
}

Napi::Value ktlsRelayCounts(const Napi::CallbackInfo& info) {
  auto counts = RelayThread::Get().Counts(static_cast<uint64_t>(ArgInt(info, 0, "relay", 1, INT64_C(1) << 53)));
  if (!counts) return info.Env().Null();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("toTls", static_cast<double>(counts->to_tls.load(std::memory_order_relaxed)));
  out.Set("fromTls", static_cast<double>(counts->from_tls.load(std::memory_order_relaxed)));
  return out;
}

Napi::Value ktlsRelayCancel(const Napi::CallbackInfo& info) {
  RelayThread::Get().Cancel(static_cast<uint64_t>(ArgInt(info, 0, "relay", 1, INT64_C(1) << 53)));
  return info.Env().Undefined();
}

}  // namespace tether
