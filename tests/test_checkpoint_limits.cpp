// What descent writes it reads back, at the edges of the loader's limits; a load that reads only what
// the header describes; saves through symbolic links; bounded echoes of hostile names; and the inputs
// refused at construction rather than later (Parameter, minimize).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "checkpoint/json.hpp"
#include "checkpoint/layout.hpp"
#include "descent/minimize.hpp"
#include "descent/minimize/minimize.hpp"
#include "support/expect_throw.hpp"

namespace descent {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    static std::atomic<unsigned> counter{0};
    path_ = fs::temp_directory_path() /
            ("descent-test-limits-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  fs::path operator/(const std::string& name) const { return path_ / name; }
  const fs::path& path() const noexcept { return path_; }

 private:
  fs::path path_;
};

// prefix + i (by append: GCC 12's -Wrestrict misfires on "t" + std::to_string(i), bug 105329).
std::string numbered(const char* prefix, int i) {
  std::string name = prefix;
  name.append(std::to_string(i));
  return name;
}

std::string marker_of(const fs::path& file) { return load_checkpoint(file).meta("which"); }

StateDict dict_with(const std::string& which) {
  StateDict d;
  const std::vector<float> w{1.0f, 2.0f};
  d.tensors["w"] = Tensor::of<float>(w, {2});
  d.metadata["which"] = which;
  return d;
}

// --- Whatever descent writes, it reads (docs/checkpoint-format.md, Limits) ------------------------------

// The writer counts the header's JSON values as the reader's parser does: a dictionary exactly at the
// limit saves and loads, one value more is refused by the writer, naming the count. Each rank-1 tensor
// costs 7 values, each metadata entry 1, and the root, __metadata__, format, format_version and
// checksum 5: 5 + 7 * 149795 + 6 = 2^20.
TEST(CheckpointLimits, TheJsonValueLimitIsTheSameForWriterAndReader) {
  ASSERT_EQ(detail::json::kMaxValues, std::size_t{1} << 20);
  StateDict d;
  const float zero = 0.0f;
  for (int i = 0; i < 149795; ++i) d.tensors[numbered("t", i)] = Tensor::of<float>(std::span(&zero, 1), {1});
  for (int i = 0; i < 6; ++i) d.metadata[numbered("m", i)] = "x";
  const StateDict back = decode_checkpoint(encode_checkpoint(d), "at-the-limit");
  EXPECT_EQ(back.tensors.size(), d.tensors.size());
  d.metadata["m6"] = "x";
  EXPECT_THROW_WITH(encode_checkpoint(d), InvalidArgument,
                    "the header would hold 1048577 JSON values (149795 tensors, 10 metadata entries), more than "
                    "the 1048576");
}

// The header's byte limit: the writer produces a header of exactly 100 000 000 bytes, which the
// loader's length check accepts (the JSON rules do not depend on the size), and refuses 8 more (the next
// padded size).
TEST(CheckpointLimits, TheHeaderByteLimitIsTheSameForWriterAndReader) {
  StateDict d = dict_with("");
  const auto header_size = [](const std::vector<std::byte>& file) {
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = n << 8 | std::to_integer<std::uint64_t>(file[static_cast<std::size_t>(i)]);
    std::size_t end = 8 + n;
    while (static_cast<char>(file[end - 1]) == ' ') --end;  // unpadded
    return std::pair<std::uint64_t, std::size_t>(n, end - 8);
  };
  const std::size_t base = header_size(encode_checkpoint(d)).second;
  d.metadata["which"] = std::string(detail::kMaxHeaderBytes - base, 'a');
  const std::vector<std::byte> at_limit = encode_checkpoint(d);
  EXPECT_EQ(header_size(at_limit).first, detail::kMaxHeaderBytes);
  EXPECT_EQ(header_size(at_limit).second, detail::kMaxHeaderBytes);
  EXPECT_EQ(detail::header_length(std::span(at_limit).first<8>(), at_limit.size() - 8, "at-the-limit"),
            detail::kMaxHeaderBytes);
  d.metadata["which"] += 'a';
  EXPECT_THROW_WITH(encode_checkpoint(d), InvalidArgument,
                    "the header would be 100000008 bytes, more than the 100000000");
}

// --- Loading reads the header before the data ----------------------------------------------------------

// A 64 GiB sparse file whose first bytes are not a checkpoint header: refused at once, naming the file,
// without reading (or allocating) its size. Before the fix, load_checkpoint allocated 64 GiB first.
TEST(CheckpointLimits, AHugeFileThatIsNotACheckpointCostsOnlyItsHeader) {
  const TempDir dir;
  const fs::path path = dir / "huge.safetensors";
  {
    std::ofstream out(path, std::ios::binary);
    const unsigned char length[8] = {16, 0, 0, 0, 0, 0, 0, 0};
    out.write(reinterpret_cast<const char*>(length), 8);
    out << "{\"x\": [1, 2, 3]}";
  }
  std::error_code error;
  fs::resize_file(path, std::uint64_t{64} << 30, error);
  if (error) GTEST_SKIP() << "this file system has no sparse files: " << error.message();
  EXPECT_THROW_WITH(load_checkpoint(path), InvalidArgument, path.string() + ": no __metadata__");
  // A valid header that describes less data than the file holds is refused before the data is read too.
  fs::resize_file(path, 0);
  save_checkpoint(path, dict_with("A"));
  fs::resize_file(path, std::uint64_t{64} << 30);
  EXPECT_THROW_WITH(load_checkpoint(path), InvalidArgument, path.string() + ": bytes 8 to 68719476");
}

TEST(CheckpointLimits, LoadErrorsNameTheFile) {
  const TempDir dir;
  const fs::path path = dir / "run.safetensors";
  save_checkpoint(path, dict_with("A"));
  std::vector<char> bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes.back() ^= 1;  // a data byte: only the checksum can tell
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  EXPECT_THROW_WITH(load_checkpoint(path), InvalidArgument, path.string() + ": checksum mismatch");
  fs::resize_file(path, 5);
  EXPECT_THROW_WITH(load_checkpoint(path), InvalidArgument, path.string() + ": truncated: 5 bytes");
}

TEST(CheckpointLimits, SaveErrorsNameTheFile) {
  const TempDir dir;
  StateDict d;
  d.tensors["x"] = Tensor{TensorType::F32, {3}, std::vector<std::byte>(8)};
  const fs::path path = dir / "run.safetensors";
  EXPECT_THROW_WITH(save_checkpoint(path, d), InvalidArgument,
                    std::string("checkpoint: cannot save '").append(path.string()).append("': tensor 'x' has 8 bytes"));
  EXPECT_FALSE(fs::exists(path));
}

// --- Saving through symbolic links ----------------------------------------------------------------------

// Before the fix the rename replaced the link with a regular file and left the target stale.
TEST(CheckpointLimits, SavingThroughASymlinkUpdatesItsTargetAndKeepsTheLink) {
  const TempDir dir;
  fs::create_directories(dir / "store");
  const fs::path target = dir / "store" / "run.safetensors";
  save_checkpoint(target, dict_with("A"));
  fs::create_symlink("store/run.safetensors", dir / "latest.safetensors");  // relative to the link's folder
  fs::create_symlink(dir / "latest.safetensors", dir / "chain.safetensors");  // a link to a link
  save_checkpoint(dir / "chain.safetensors", dict_with("B"));
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(dir / "chain.safetensors")));
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(dir / "latest.safetensors")));
  EXPECT_EQ(marker_of(target), "B");
  EXPECT_EQ(marker_of(dir / "chain.safetensors"), "B");
  // No temporary file left in either folder.
  std::size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir.path())) {
    files += fs::is_regular_file(entry.symlink_status());
  }
  EXPECT_EQ(files, 1u);
}

TEST(CheckpointLimits, SavingThroughADanglingSymlinkCreatesItsTarget) {
  const TempDir dir;
  fs::create_symlink("new.safetensors", dir / "link.safetensors");
  save_checkpoint(dir / "link.safetensors", dict_with("C"));
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(dir / "link.safetensors")));
  EXPECT_EQ(marker_of(dir / "new.safetensors"), "C");
}

TEST(CheckpointLimits, ALoopOfSymlinksIsAnError) {
  const TempDir dir;
  fs::create_symlink("b", dir / "a");
  fs::create_symlink("a", dir / "b");
  EXPECT_THROW_WITH(save_checkpoint(dir / "a", dict_with("D")), Error, "follow the symbolic links of");
}

// --- Echoed names are bounded ---------------------------------------------------------------------------

TEST(Excerpt, KeepsShortTextAndCutsLongTextAtACharacterBoundary) {
  EXPECT_EQ(excerpt("weight"), "weight");
  EXPECT_EQ(excerpt(std::string(kExcerptBytes, 'a')), std::string(kExcerptBytes, 'a'));
  EXPECT_EQ(excerpt(std::string(kExcerptBytes + 1, 'a')), std::string(kExcerptBytes, 'a') + "... (121 bytes)");
  // "é" is 2 bytes; cutting after 3 bytes would split the second one.
  EXPECT_EQ(excerpt("\xc3\xa9\xc3\xa9", 3), "\xc3\xa9... (4 bytes)");
}

TEST(Excerpt, A20MegabyteNameIsNotEchoedWhole) {
  const std::string huge(20u << 20, 'n');
  StateDict d;
  d.tensors[huge] = Tensor{TensorType::F32, {3}, std::vector<std::byte>(8)};
  try {
    (void)encode_checkpoint(d);
    ADD_FAILURE() << "no exception";
  } catch (const InvalidArgument& e) {
    EXPECT_LT(std::strlen(e.what()), 400u);
    EXPECT_NE(std::string(e.what()).find("... (20971520 bytes)"), std::string::npos);
  }
  // A file whose tensor has a 20 MB name and an unknown dtype.
  StateDict good;
  const float zero = 0.0f;
  good.tensors[huge] = Tensor::of<float>(std::span(&zero, 1), {1});
  std::vector<std::byte> file = encode_checkpoint(good);
  const std::string f32 = "\"dtype\":\"F32\"";
  const auto* header = reinterpret_cast<const char*>(file.data());
  const std::string_view text(header, file.size());
  const std::size_t at = text.find(f32);
  ASSERT_NE(at, std::string_view::npos);
  file[at + 10] = std::byte{'Q'};  // "FQ2": the checksum would catch it, but the dtype check comes first
  try {
    (void)decode_checkpoint(file, "hostile.safetensors");
    ADD_FAILURE() << "no exception";
  } catch (const InvalidArgument& e) {
    EXPECT_LT(std::strlen(e.what()), 400u);
    EXPECT_NE(std::string(e.what()).find("unsupported dtype 'FQ2'"), std::string::npos) << e.what();
  }
  std::vector<float> w(2), g(2);
  try {
    const Parameter p(huge, std::span(w), std::span(g), {3});
    ADD_FAILURE() << "no exception";
  } catch (const InvalidArgument& e) {
    EXPECT_LT(std::strlen(e.what()), 400u);
  }
}

// --- Refused at construction ----------------------------------------------------------------------------

TEST(ParameterChecks, AGradientThatSharesTheValuesMemoryIsRefused) {
  std::vector<float> w(8);
  EXPECT_THROW_WITH(Parameter("w", std::span(w), std::span(w)), InvalidArgument,
                    "parameter 'w': its gradient overlaps its value in memory (the same span)");
  EXPECT_THROW_WITH(Parameter("w", std::span(w).first(4), std::span(w).subspan(3, 4)), InvalidArgument,
                    "its gradient overlaps its value in memory (spans 12 bytes apart)");
  EXPECT_NO_THROW(Parameter("w", std::span(w).first(4), std::span(w).subspan(4, 4)));  // adjacent, disjoint
  std::vector<double> v(4);
  Parameter p("v", std::span(v).first(2), std::span<double>());
  EXPECT_THROW_WITH(p.set_grad(std::span(v).subspan(1, 2)), InvalidArgument, "overlaps its value");
  EXPECT_FALSE(p.has_grad());  // the refused call changed nothing
}

TEST(ParameterChecks, ANonUtf8NameIsRefusedAtConstruction) {
  std::vector<float> w(2), g(2);
  EXPECT_THROW_WITH(Parameter("bad\xff", std::span(w), std::span(g)), InvalidArgument,
                    "is not valid UTF-8 (byte 3)");
  EXPECT_NO_THROW(Parameter("gewicht-\xc3\xa9", std::span(w), std::span(g)));
}

TEST(MinimizeChecks, ANonFiniteStartIsRefusedNamingTheCoordinate) {
  const FunctionObjective f(3, [](std::span<const double> x, std::span<double> g) {
    double sum = 0.0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      sum += x[i] * x[i];
      if (!g.empty()) g[i] = 2.0 * x[i];
    }
    return sum;
  });
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW_WITH(minimize(f, {1.0, nan, 0.0}, LBFGSOptions{}), InvalidArgument,
                    "minimize: the start's coordinate 1 is nan");
  EXPECT_THROW_WITH(minimize(f, {1.0, 0.0, -std::numeric_limits<double>::infinity()}, NewtonOptions{}),
                    InvalidArgument, "coordinate 2 is -inf");
}

}  // namespace
}  // namespace descent
