// The sending side of BuildKit's file-sync protocol (fsutil's DiffCopy), over
// a ContextStore: what dkd serves when the engine's Dockerfile frontend
// fetches the build context or the Dockerfile from a build session.
//
// The sender streams one STAT packet per selected entry, in walk order, then
// an empty STAT; the receiver asks for the content of files it does not hold
// yet with REQ packets naming an entry by its index among the STATs; each
// requested file goes out as DATA packets ending with an empty one; the
// receiver's FIN is answered with FIN and ends the call. The receiver's
// requests are read while STATs are still going out (a second thread writes),
// so neither side waits on the other's flow control.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/context/context_store.h"
#include "fsutil/types/wire.pb.h"

namespace dkd::server {

// The two directions of one DiffCopy call. Read and Write may be called from
// two threads at once (one each), as gRPC's synchronous streams allow.
class PacketStream {
 public:
  virtual ~PacketStream() = default;
  // False at the end of the receiver's stream or when the call broke.
  virtual bool Read(fsutil::types::Packet* packet) = 0;
  virtual bool Write(const fsutil::types::Packet& packet) = 0;
};

// The file-sync request's metadata, as BuildKit sends it: `-encoded` keys
// mark URL-encoded values. Unknown keys are ignored.
struct FileSyncRequest {
  std::string dir_name;
  core::ContextFilter filter;
};
FileSyncRequest ParseFileSyncMetadata(
    const std::vector<std::pair<std::string, std::string>>& metadata);

// Serves one DiffCopy of `selected` (indices into store.entries(), in walk
// order) on `stream`. OK once the receiver has finished (FIN); an error when
// the receiver reported one (its text), asked for an entry that is not a
// sent file, or the call broke.
absl::Status ServeDiffCopy(const core::ContextStore& store, const std::vector<size_t>& selected,
                           PacketStream& stream);

}  // namespace dkd::server
