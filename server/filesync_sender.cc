// ServeDiffCopy (filesync_sender.h): the sender side of fsutil's DiffCopy.
#include "server/filesync_sender.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace dkd::server {

namespace {

using fsutil::types::Packet;

constexpr size_t kDataChunk = 256 * 1024;

// Go's url.QueryUnescape, keeping a malformed escape as it is.
std::string QueryUnescape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() &&
               absl::ascii_isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               absl::ascii_isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      auto hex = [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c))
                   ? c - '0'
                   : absl::ascii_tolower(static_cast<unsigned char>(c)) - 'a' + 10;
      };
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

FileSyncRequest ParseFileSyncMetadata(
    const std::vector<std::pair<std::string, std::string>>& metadata) {
  std::map<std::string, std::vector<std::string>> md;
  for (const auto& [k, v] : metadata) md[absl::AsciiStrToLower(k)].push_back(v);
  auto values = [&md](const std::string& key) {
    std::vector<std::string> out;
    auto it = md.find(key);
    if (it == md.end()) return out;
    bool encoded = false;
    if (auto e = md.find(key + "-encoded"); e != md.end() && !e->second.empty()) {
      const std::string flag = absl::AsciiStrToLower(e->second[0]);
      encoded = flag == "1" || flag == "t" || flag == "true";
    }
    for (const std::string& v : it->second) out.push_back(encoded ? QueryUnescape(v) : v);
    return out;
  };
  FileSyncRequest r;
  if (auto d = values("dir-name"); !d.empty()) r.dir_name = d[0];
  r.filter.include_patterns = values("include-patterns");
  r.filter.exclude_patterns = values("exclude-patterns");
  r.filter.follow_paths = values("followpaths");
  return r;
}

absl::Status ServeDiffCopy(const core::ContextStore& store, const std::vector<size_t>& selected,
                           PacketStream& stream) {
  const auto& entries = store.entries();
  std::mutex mu;
  std::condition_variable cv;
  std::deque<uint32_t> requests;  // Ids asked for, not yet sent.
  bool fin = false;               // The receiver finished.
  std::atomic<bool> stop{false};  // Reading ended: the writer stops.
  absl::Status write_status;

  std::thread writer([&] {
    auto fail = [&](absl::Status s) {
      std::lock_guard<std::mutex> lock(mu);
      if (write_status.ok()) write_status = std::move(s);
    };
    Packet p;
    for (size_t id = 0; id < selected.size() && !stop; ++id) {
      const core::ContextEntry& e = entries[selected[id]];
      p.Clear();
      p.set_type(Packet::PACKET_STAT);
      fsutil::types::Stat* st = p.mutable_stat();
      st->set_path(e.path);
      st->set_mode(core::GoFileMode(e));
      st->set_uid(e.uid);
      st->set_gid(e.gid);
      st->set_size(e.type == core::ContextEntry::Type::kFile ? e.size : 0);
      st->set_modtime(e.mtime * 1000000000LL);
      st->set_linkname(e.linkname);
      if (!stream.Write(p)) return fail(absl::UnavailableError("file sync: the engine went away"));
    }
    p.Clear();
    p.set_type(Packet::PACKET_STAT);
    if (!stream.Write(p)) return fail(absl::UnavailableError("file sync: the engine went away"));
    std::string buf(kDataChunk, '\0');
    for (;;) {
      uint32_t id = 0;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return !requests.empty() || fin || stop; });
        if (requests.empty()) {
          if (!fin) return;
          lock.unlock();
          p.Clear();
          p.set_type(Packet::PACKET_FIN);
          if (!stream.Write(p)) fail(absl::UnavailableError("file sync: the engine went away"));
          return;
        }
        id = requests.front();
        requests.pop_front();
      }
      const core::ContextEntry& e = entries[selected[id]];
      for (int64_t off = 0; off < e.size && !stop;) {
        auto n = store.ReadAt(e, off, buf.data(), buf.size());
        if (!n.ok() || *n == 0) {
          const std::string why = n.ok() ? "short spool" : std::string(n.status().message());
          p.Clear();
          p.set_type(Packet::PACKET_ERR);
          p.set_data(why);
          (void)stream.Write(p);
          return fail(n.ok() ? absl::InternalError(why) : n.status());
        }
        p.Clear();
        p.set_type(Packet::PACKET_DATA);
        p.set_id(id);
        p.set_data(buf.data(), *n);
        if (!stream.Write(p))
          return fail(absl::UnavailableError("file sync: the engine went away"));
        off += static_cast<int64_t>(*n);
      }
      p.Clear();
      p.set_type(Packet::PACKET_DATA);
      p.set_id(id);
      if (!stream.Write(p)) return fail(absl::UnavailableError("file sync: the engine went away"));
    }
  });

  absl::Status read_status;
  std::vector<bool> requested(selected.size(), false);
  Packet in;
  for (;;) {
    in.Clear();
    if (!stream.Read(&in)) {
      read_status = absl::UnavailableError("file sync: the engine ended the transfer early");
      break;
    }
    if (in.type() == Packet::PACKET_REQ) {
      const uint32_t id = in.id();
      if (id >= selected.size() || entries[selected[id]].type != core::ContextEntry::Type::kFile ||
          requested[id]) {
        read_status = absl::InvalidArgumentError(absl::StrCat(
            "file sync: the engine asked for entry ", id, ", which is not a file sent"));
        break;
      }
      requested[id] = true;
      std::lock_guard<std::mutex> lock(mu);
      requests.push_back(id);
      cv.notify_one();
    } else if (in.type() == Packet::PACKET_FIN) {
      std::lock_guard<std::mutex> lock(mu);
      fin = true;
      cv.notify_one();
      break;
    } else if (in.type() == Packet::PACKET_ERR) {
      read_status = absl::AbortedError(absl::StrCat("file sync: the engine failed: ", in.data()));
      break;
    }
    // The receiver sends nothing else; anything else is ignored.
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    stop = true;
    cv.notify_one();
  }
  writer.join();
  if (!read_status.ok()) return read_status;
  return write_status;
}

}  // namespace dkd::server
