// The checkpoint file's layout, shared by decode_checkpoint (bytes in memory) and load_checkpoint (a
// file read piece by piece): the header is checked before any tensor data is read, so that a file whose
// header is wrong costs only its header, not its size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "descent/checkpoint.hpp"

namespace descent::detail {

// safetensors' own bound on the header (100 MB). The writer refuses a header past it.
inline constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

// A checked header: the dictionary with every tensor's type and shape (its bytes still empty), and where
// each tensor's bytes lie in the data.
struct CheckpointHeader {
  struct Extent {
    std::uint64_t begin, end;  // relative to the start of the data
    Tensor* tensor;            // in dict.tensors
  };
  StateDict dict;
  std::vector<Extent> extents;     // sorted, tiling the data exactly
  std::uint32_t header_crc = 0;    // CRC-32 of the header with the checksum's digits read as '0's
  std::uint32_t stated_crc = 0;    // the checksum the metadata states
};

// The header length from the file's first 8 bytes, checked against the rest of the file (`rest` bytes
// follow the 8) and the 100 MB bound. `where` prefixes the InvalidArgument messages.
std::uint64_t header_length(std::span<const std::byte, 8> first8, std::uint64_t rest, std::string_view where);

// Parses and checks the header (everything but the checksum's value, which covers the data too):
// InvalidArgument prefixed by `where`.
CheckpointHeader parse_header(std::string_view header, std::uint64_t data_size, std::string_view where);

std::uint32_t crc32_update(std::uint32_t crc, const std::byte* data, std::size_t n);

// InvalidArgument when the CRC of header and data differs from the stated one.
void check_crc(const CheckpointHeader& header, std::uint32_t crc, std::string_view where);

}  // namespace descent::detail
