// ProtoWireReader: a bounds-checked reader of the protobuf wire format, for
// the few BuildKit messages dkd decodes without linking protobuf into core.
//
// Every read checks the remaining length: truncated or hostile input ends in
// InvalidArgument, never a read past the buffer. Not thread-safe.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace dkd::core::buildkit {

class ProtoWireReader {
 public:
  enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

  explicit ProtoWireReader(absl::string_view data) : data_(data) {}

  bool AtEnd() const { return pos_ >= data_.size(); }
  // Reads the next field's tag: its number and wire type.
  absl::Status NextTag(uint32_t* field, WireType* type);
  absl::Status ReadVarint(uint64_t* value);
  // A length-delimited field's bytes (a string, bytes or a nested message);
  // the view points into the reader's buffer.
  absl::Status ReadBytes(absl::string_view* value);
  // Skips a field of `type` whose tag was just read (unknown fields).
  absl::Status Skip(WireType type);

 private:
  absl::string_view data_;
  size_t pos_ = 0;
};

}  // namespace dkd::core::buildkit
