// ProtoWireReader (proto_wire.h): varints, length-delimited fields and skips.
#include "core/buildkit/proto_wire.h"

#include "core/base/status_macros.h"

namespace dkd::core::buildkit {

absl::Status ProtoWireReader::ReadVarint(uint64_t* value) {
  uint64_t result = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos_ >= data_.size()) return absl::InvalidArgumentError("protobuf: truncated varint");
    const auto byte = static_cast<uint8_t>(data_[pos_++]);
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *value = result;
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError("protobuf: varint longer than 10 bytes");
}

absl::Status ProtoWireReader::NextTag(uint32_t* field, WireType* type) {
  uint64_t tag = 0;
  RETURN_IF_ERROR(ReadVarint(&tag));
  const uint64_t number = tag >> 3;
  if (number == 0 || number > 0x1fffffff) {
    return absl::InvalidArgumentError("protobuf: invalid field number");
  }
  *field = static_cast<uint32_t>(number);
  *type = static_cast<WireType>(tag & 7);
  return absl::OkStatus();
}

absl::Status ProtoWireReader::ReadBytes(absl::string_view* value) {
  uint64_t length = 0;
  RETURN_IF_ERROR(ReadVarint(&length));
  if (length > data_.size() - pos_) {
    return absl::InvalidArgumentError("protobuf: length-delimited field past the end");
  }
  *value = data_.substr(pos_, static_cast<size_t>(length));
  pos_ += static_cast<size_t>(length);
  return absl::OkStatus();
}

absl::Status ProtoWireReader::Skip(WireType type) {
  switch (type) {
    case kVarint: {
      uint64_t ignored = 0;
      return ReadVarint(&ignored);
    }
    case kFixed64:
    case kFixed32: {
      const size_t width = type == kFixed64 ? 8 : 4;
      if (width > data_.size() - pos_) return absl::InvalidArgumentError("protobuf: truncated");
      pos_ += width;
      return absl::OkStatus();
    }
    case kLengthDelimited: {
      absl::string_view ignored;
      return ReadBytes(&ignored);
    }
  }
  return absl::InvalidArgumentError("protobuf: unsupported wire type (groups are not used)");
}

}  // namespace dkd::core::buildkit
