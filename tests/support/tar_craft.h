// Hand-written tar headers for tests, including the malformed and ambiguous
// ones a hostile client would send (two pax path records, GNU headers with
// bytes in the ustar prefix field, devices, duplicate names), plus gzip
// compression through libarchive. Header-only; pure functions.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace dkd::testing {

struct TarHeader {
  std::string name;
  char type = '0';
  uint64_t size = 0;
  std::string linkname;
  std::string prefix;  // Written into bytes 345..500 whatever the magic.
  bool gnu = false;    // GNU magic ("ustar  \0") instead of POSIX ustar.
  int mode = 0644;
};

inline TarHeader Hdr(const std::string& name, char type, uint64_t size = 0,
                     const std::string& link = "") {
  TarHeader h;
  h.name = name;
  h.type = type;
  h.size = size;
  h.linkname = link;
  return h;
}

inline void TarOctal(char* field, size_t len, uint64_t v) {
  std::snprintf(field, len, "%0*llo", static_cast<int>(len - 1),
                static_cast<unsigned long long>(v));
}

inline std::string TarBlock(const TarHeader& h) {
  char b[512];
  std::memset(b, 0, sizeof(b));
  std::memcpy(b, h.name.data(), std::min<size_t>(h.name.size(), 100));
  TarOctal(b + 100, 8, static_cast<uint64_t>(h.mode));
  TarOctal(b + 108, 8, 0);
  TarOctal(b + 116, 8, 0);
  TarOctal(b + 124, 12, h.size);
  TarOctal(b + 136, 12, 1700000000);
  b[156] = h.type;
  std::memcpy(b + 157, h.linkname.data(), std::min<size_t>(h.linkname.size(), 100));
  if (h.gnu) {
    std::memcpy(b + 257, "ustar  ", 8);
  } else {
    std::memcpy(b + 257, "ustar", 6);
    std::memcpy(b + 263, "00", 2);
  }
  std::memcpy(b + 345, h.prefix.data(), std::min<size_t>(h.prefix.size(), 155));
  std::memset(b + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : b) sum += c;
  std::snprintf(b + 148, 8, "%06o", sum);
  b[155] = ' ';
  return std::string(b, sizeof(b));
}

inline std::string TarPad(size_t n) { return std::string((512 - n % 512) % 512, '\0'); }

// Header, data and padding. `h.size` is set from `data` unless already set.
inline std::string TarEntry(TarHeader h, const std::string& data = "") {
  if (h.size == 0) h.size = data.size();
  return TarBlock(h) + data + TarPad(data.size());
}

inline std::string TarFile(const std::string& name, const std::string& content) {
  return TarEntry(Hdr(name, '0'), content);
}
inline std::string TarDir(const std::string& name) {
  TarHeader h = Hdr(name, '5');
  h.mode = 0755;
  return TarEntry(h);
}
inline std::string TarSymlink(const std::string& name, const std::string& target) {
  return TarEntry(Hdr(name, '2', 0, target));
}
inline std::string TarHardlink(const std::string& name, const std::string& target) {
  return TarEntry(Hdr(name, '1', 0, target));
}

// A pax extended header ('x') carrying `records` in order, duplicates allowed.
inline std::string TarPax(const std::vector<std::pair<std::string, std::string>>& records) {
  std::string body;
  for (const auto& [k, v] : records) {
    const std::string rec = " " + k + "=" + v + "\n";
    size_t len = rec.size() + 1;
    while (std::to_string(len).size() + rec.size() != len) ++len;
    body += std::to_string(len) + rec;
  }
  return TarEntry(Hdr("PaxHeaders/x", 'x'), body);
}

inline std::string TarEnd() { return std::string(1024, '\0'); }

// `data` through libarchive's gzip (or another) filter, raw format.
inline std::string Compress(const std::string& data,
                            int (*add_filter)(struct archive*) = archive_write_add_filter_gzip) {
  std::string out;
  struct archive* a = archive_write_new();
  add_filter(a);
  archive_write_set_format_raw(a);
  archive_write_open(
      a, &out, nullptr,
      [](struct archive*, void* ctx, const void* buf, size_t n) -> la_ssize_t {
        static_cast<std::string*>(ctx)->append(static_cast<const char*>(buf), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  struct archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, "data");
  archive_entry_set_filetype(e, AE_IFREG);
  archive_write_header(a, e);
  archive_write_data(a, data.data(), data.size());
  archive_entry_free(e);
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

}  // namespace dkd::testing
