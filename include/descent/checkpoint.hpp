// Checkpoints: a name-keyed state dictionary and the safetensors file that holds it.
//
//   descent::save_checkpoint("run.safetensors", adam.state_dict(/*with_parameters=*/true));
//   ...new process, same model...
//   adam.load_state_dict(descent::load_checkpoint("run.safetensors"));   // strict: every name must match
//
// The file is a safetensors file (docs/checkpoint-format.md), so any safetensors reader opens it:
//   bytes 0-7   N, the header's length, unsigned 64-bit little-endian
//   bytes 8..   the header: N bytes of UTF-8 JSON, padded with spaces so that the data starts 8-aligned
//   then        the data: every tensor's raw little-endian bytes, contiguous, no gaps, no overlaps
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative
// to the data), and "__metadata__" to string values: "format" ("descent.checkpoint"), "format_version"
// ("1"), "checksum" ("crc32:" and 8 hex digits) and whatever the state dictionary adds (the optimizer's
// kind and group options, a training run's schedule and data position).
//
// Loading checks everything before it returns: a truncated file, a flipped byte anywhere (the checksum
// covers the header and the data), an unknown version, a header length past the end of the file,
// overlapping, out-of-range or gapped offsets, an unknown dtype, a size that does not match the shape, a
// shape whose product overflows, invalid UTF-8 or JSON nested deeper than 64 levels: each throws
// InvalidArgument naming the file and the problem. Nothing is changed by a failed load.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "descent/dtype.hpp"

namespace descent {

// Element types a checkpoint holds: parameters and state in their parameter's type (F32, F64), step
// counts (I64), and the types state slots may declare for themselves (BF16, F16, U8, I32). A file that
// holds only F32, F64 and I64 tensors is written as format version 1, which every release reads; one
// with the others as version 2.
enum class TensorType : std::uint8_t { F32, F64, I64, BF16, F16, U8, I32 };

std::string_view name_of(TensorType type) noexcept;  // "F32", "F64", "BF16", ...: the safetensors names
std::string shape_text(const std::vector<std::int64_t>& shape);  // "[3, 4]", "[]" for a scalar
std::size_t size_of(TensorType type) noexcept;
// The checkpoint type of a descent dtype, and back.
TensorType tensor_type(DType dtype) noexcept;
DType dtype_of(TensorType type) noexcept;

// One tensor: its bytes in the machine's order (little-endian; descent builds only there).
struct Tensor {
  TensorType type = TensorType::F32;
  std::vector<std::int64_t> shape;  // empty: a scalar (one element)
  std::vector<std::byte> bytes;     // element count x size_of(type)

  std::size_t elements() const noexcept { return bytes.size() / size_of(type); }
  // Whether the bytes fill the shape exactly (its element count not overflowing): true of every tensor
  // read from a file; a dictionary built in memory may break it, and load_state_dict refuses it then.
  bool fits_shape() const noexcept;
  friend bool operator==(const Tensor&, const Tensor&) = default;

  template <class T>
  static Tensor of(std::span<const T> values, std::vector<std::int64_t> shape);
  static Tensor scalar(std::int64_t value);
  static Tensor scalar(double value);
  // The values, copied out; T must match the type (float F32, double F64, std::int64_t I64, bfloat16
  // BF16, float16 F16, std::uint8_t U8, std::int32_t I32), else InvalidArgument naming `what`.
  template <class T>
  std::vector<T> values(std::string_view what) const;
};

// Tensors and string metadata, both keyed by name. Ordered maps, so that a dictionary always writes the
// same bytes.
struct StateDict {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;

  // The metadata value, or NotFound naming the key.
  const std::string& meta(const std::string& key) const;
  const Tensor& tensor(const std::string& name) const;
};

// The checkpoint file's bytes, with "format", "format_version" and "checksum" set (any values of those
// keys in `dict` are replaced). Throws InvalidArgument for a name or value that is not valid UTF-8, a
// shape that does not match the byte count, an empty tensor name, or a header past what the loader
// accepts (2^20 JSON values, 100 MB; docs/checkpoint-format.md, Limits): what it writes, loads.
std::vector<std::byte> encode_checkpoint(const StateDict& dict);

// Parses and checks a checkpoint file's bytes (see the top of this file). `source` names the file in
// error messages. Throws InvalidArgument.
StateDict decode_checkpoint(std::span<const std::byte> file, std::string_view source = "checkpoint");

// Writes atomically: the bytes go to a temporary file in the same directory, which is flushed to disk
// (fsync), renamed over `path` and the directory flushed, so that after a crash at any point `path`
// holds the old checkpoint or the new one, never a mix. Throws Error (naming the path and the system's
// reason) when a step fails. Before the rename, the temporary file is then removed and `path` is
// untouched; only flushing the directory comes after it (its failure means the new file is in place but
// may not survive a power cut). When `path` is a symbolic link, the file it points to is replaced (the
// temporary file is made next to it) and the link stays. Every error names `path`.
void save_checkpoint(const std::filesystem::path& path, const StateDict& dict);

// Reads and decodes: the header length first, then the header, checked whole, then only the data the
// header describes, so a file that is not a checkpoint costs its header, not its size. Throws NotFound
// for a missing file, Error for a read failure (or memory running out), InvalidArgument for bad content;
// every message names the file.
StateDict load_checkpoint(const std::filesystem::path& path);

// What a non-strict load left out (a strict load throws instead of leaving anything out).
struct LoadReport {
  std::vector<std::string> missing;     // the optimizer's parameters the dictionary has nothing for
  std::vector<std::string> unexpected;  // entries of the dictionary the optimizer has no use for
};

}  // namespace descent
