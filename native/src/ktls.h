// Record I/O on a kTLS socket, shared by ktls.cc's entry points and relay.cc's thread.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace tether {

// recvmsg(MSG_DONTWAIT) of one record with its TLS_GET_RECORD_TYPE cmsg (0 when none came).
// Returns the bytes read, 0 at EOF, or -errno.
ssize_t RecvRecord(int fd, uint8_t* buf, size_t len, uint8_t* type);

// sendmsg(MSG_DONTWAIT) of one record of `type` (TLS_SET_RECORD_TYPE). Returns bytes or -errno.
ssize_t SendRecord(int fd, uint8_t type, const uint8_t* data, size_t len);

}  // namespace tether
