// The data layer of the neural-network front end: IDX files (plain and gzip), their errors, Fashion-MNIST
// when installed, the generated spirals and the batch loader.
#include "descent/nn/data.hpp"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "descent/error.hpp"
#include "random.hpp"

namespace {

namespace fs = std::filesystem;
using descent::nn::BatchLoader;
using descent::nn::Dataset;

using Bytes = std::vector<std::uint8_t>;

void put_u32(Bytes& out, std::uint32_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 24));
  out.push_back(static_cast<std::uint8_t>(value >> 16));
  out.push_back(static_cast<std::uint8_t>(value >> 8));
  out.push_back(static_cast<std::uint8_t>(value));
}

Bytes idx_images(std::uint32_t count, std::uint32_t rows, std::uint32_t cols, const Bytes& pixels,
                 std::uint32_t magic = 0x00000803) {
  Bytes out;
  put_u32(out, magic);
  put_u32(out, count);
  put_u32(out, rows);
  put_u32(out, cols);
  out.insert(out.end(), pixels.begin(), pixels.end());
  return out;
}

Bytes idx_labels(const Bytes& labels, std::uint32_t magic = 0x00000801) {
  Bytes out;
  put_u32(out, magic);
  put_u32(out, static_cast<std::uint32_t>(labels.size()));
  out.insert(out.end(), labels.begin(), labels.end());
  return out;
}

void write_raw(const fs::path& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// gzip through zlib's gzFile interface; mode "wb" starts a file, "ab" appends another gzip member.
void write_gz(const fs::path& path, const Bytes& bytes, const char* mode = "wb") {
  gzFile file = gzopen(path.c_str(), mode);
  ASSERT_NE(file, nullptr) << path;
  if (!bytes.empty()) {
    ASSERT_EQ(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  }
  ASSERT_EQ(gzclose(file), Z_OK);
}

Bytes read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Expects `call` to throw E (exactly that type or a subclass) with every piece in its message.
template <class E>
void expect_error(const std::function<void()>& call, std::initializer_list<std::string> pieces) {
  try {
    call();
    ADD_FAILURE() << "no exception; expected one mentioning '" << *pieces.begin() << "'";
  } catch (const E& error) {
    const std::string message = error.what();
    for (const std::string& piece : pieces) {
      EXPECT_NE(message.find(piece), std::string::npos) << "'" << piece << "' not in: " << message;
    }
  } catch (const std::exception& error) {
    ADD_FAILURE() << "wrong exception type: " << error.what();
  }
}

// A fresh folder under the system's temporary directory, removed afterwards.
class IdxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("descent_test_data_" + std::to_string(::getpid()) + "_" + info->name() + "_" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code error;
    fs::remove_all(dir_, error);
  }
  fs::path file(const std::string& name) const { return dir_ / name; }

  // Three 2 x 4 images with known bytes and their labels 2, 0, 1.
  static Bytes pixels() {
    Bytes p(24);
    for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<std::uint8_t>(i * 11);
    p[0] = 0;
    p[5] = 255;
    p[23] = 51;  // 0.2
    return p;
  }
  static Bytes labels() { return {2, 0, 1}; }

  void write_pair(bool gzip_images, bool gzip_labels) {
    images_ = file(gzip_images ? "images.gz" : "images");
    labels_ = file(gzip_labels ? "labels.gz" : "labels");
    const Bytes image_bytes = idx_images(3, 2, 4, pixels()), label_bytes = idx_labels(labels());
    if (gzip_images) write_gz(images_, image_bytes); else write_raw(images_, image_bytes);
    if (gzip_labels) write_gz(labels_, label_bytes); else write_raw(labels_, label_bytes);
  }

  void check_pair(const Dataset& data) const {
    EXPECT_EQ(data.name, "tiny");
    EXPECT_EQ(data.samples, 3u);
    EXPECT_EQ(data.rows, 2u);
    EXPECT_EQ(data.cols, 4u);
    EXPECT_EQ(data.features, 8u);
    EXPECT_EQ(data.classes, 3u);
    const Bytes p = pixels();
    ASSERT_EQ(data.inputs.size(), p.size());
    for (std::size_t i = 0; i < p.size(); ++i) EXPECT_EQ(data.inputs[i], static_cast<float>(p[i]) / 255.0f) << i;
    EXPECT_EQ(data.inputs[0], 0.0f);
    EXPECT_EQ(data.inputs[5], 1.0f);
    EXPECT_EQ(data.inputs[23], 0.2f);
    EXPECT_EQ(data.labels, (std::vector<std::int32_t>{2, 0, 1}));
  }

  fs::path dir_, images_, labels_;
};

TEST_F(IdxTest, ReadsRawPair) {
  write_pair(false, false);
  check_pair(descent::nn::read_idx(images_, labels_, "tiny"));
}

TEST_F(IdxTest, ReadsGzipPair) {
  write_pair(true, true);
  ASSERT_EQ(read_all(images_).at(0), 0x1f);
  ASSERT_EQ(read_all(images_).at(1), 0x8b);
  check_pair(descent::nn::read_idx(images_, labels_, "tiny"));
}

TEST_F(IdxTest, ReadsMixedPair) {
  write_pair(true, false);
  check_pair(descent::nn::read_idx(images_, labels_, "tiny"));
  write_pair(false, true);
  check_pair(descent::nn::read_idx(images_, labels_, "tiny"));
}

TEST_F(IdxTest, ReadsConcatenatedGzipMembers) {
  // gzip -d reads a file made of several members as their concatenation; so does read_idx.
  const Bytes whole = idx_images(3, 2, 4, pixels());
  const fs::path images = file("images.gz"), labels = file("labels");
  write_gz(images, Bytes(whole.begin(), whole.begin() + 10));
  write_gz(images, Bytes(whole.begin() + 10, whole.end()), "ab");
  write_raw(labels, idx_labels(IdxTest::labels()));
  check_pair(descent::nn::read_idx(images, labels, "tiny"));
}

TEST_F(IdxTest, LargerGzipSetReadsExactly) {
  // Several inflate calls and input refills: 500 images of 28 x 28.
  descent::detail::SplitMix64 random(7);
  Bytes p(500 * 28 * 28), l(500);
  for (auto& b : p) b = static_cast<std::uint8_t>(random.below(4) * 85);
  for (auto& b : l) b = static_cast<std::uint8_t>(random.below(10));
  write_gz(file("i.gz"), idx_images(500, 28, 28, p));
  write_gz(file("l.gz"), idx_labels(l));
  const Dataset data = descent::nn::read_idx(file("i.gz"), file("l.gz"), "bigger");
  ASSERT_EQ(data.inputs.size(), p.size());
  for (std::size_t i = 0; i < p.size(); ++i) ASSERT_EQ(data.inputs[i], static_cast<float>(p[i]) / 255.0f) << i;
  for (std::size_t i = 0; i < l.size(); ++i) ASSERT_EQ(data.labels[i], l[i]) << i;
  EXPECT_EQ(data.classes, 10u);
}

TEST_F(IdxTest, ClassesArgumentFixesTheCount) {
  write_pair(false, false);
  EXPECT_EQ(descent::nn::read_idx(images_, labels_, "tiny", 10).classes, 10u);
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(images_, labels_, "tiny", 300); },
                                         {"classes = 300"});
}

TEST_F(IdxTest, TruncatedImages) {
  const fs::path images = file("images"), labels = file("labels");
  Bytes p = pixels();
  p.resize(20);
  write_raw(images, idx_images(3, 2, 4, p));
  write_raw(labels, idx_labels(IdxTest::labels()));
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(images, labels, "t"); },
                                         {images.string(), "truncated", "expected 24 bytes of image data",
                                          "file has 20", "3 images of 2 x 4"});
  // The same, gzip-compressed: the sizes are the decompressed ones.
  write_gz(file("images.gz"), idx_images(3, 2, 4, p));
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(file("images.gz"), labels, "t"); },
                                         {file("images.gz").string(), "expected 24 bytes of image data",
                                          "file has 20", "decompressed"});
}

TEST_F(IdxTest, TruncatedLabels) {
  const fs::path images = file("images"), labels = file("labels");
  write_raw(images, idx_images(3, 2, 4, pixels()));
  Bytes l = idx_labels(IdxTest::labels());
  l.pop_back();
  write_raw(labels, l);
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(images, labels, "t"); },
                                         {labels.string(), "expected 3 bytes of label data", "file has 2"});
}

TEST_F(IdxTest, TrailingData) {
  const fs::path images = file("images"), labels = file("labels");
  Bytes p = pixels();
  p.resize(26, 7);
  write_raw(images, idx_images(3, 2, 4, p));
  write_raw(labels, idx_labels(IdxTest::labels()));
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(images, labels, "t"); },
                                         {images.string(), "trailing data", "expected 24 bytes", "file has 26"});
}

TEST_F(IdxTest, BadMagic) {
  const fs::path images = file("images"), labels = file("labels");
  write_raw(images, idx_images(3, 2, 4, pixels(), 0x12345678));
  write_raw(labels, idx_labels(IdxTest::labels()));
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(images, labels, "t"); },
                                         {images.string(), "bad magic number 0x12345678", "0x00000803"});
  // Floats (type 0x0d) are not unsigned bytes.
  write_raw(images, idx_images(3, 2, 4, pixels(), 0x00000d03));
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(images, labels, "t"); },
                                         {images.string(), "0x00000d03"});
  write_raw(images, idx_images(3, 2, 4, pixels()));
  write_raw(labels, idx_labels(IdxTest::labels(), 0xdeadbeef));
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(images, labels, "t"); },
                                         {labels.string(), "bad magic number 0xdeadbeef", "0x00000801"});
}

TEST_F(IdxTest, WrongDimensionCount) {
  const fs::path images = file("images"), labels = file("labels");
  write_raw(images, idx_images(3, 2, 4, pixels(), 0x00000802));
  write_raw(labels, idx_labels(IdxTest::labels()));
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(images, labels, "t"); },
                                         {images.string(), "0x00000802", "2 dimensions", "expected 3"});
  // The files swapped: labels where images belong.
  write_raw(images, idx_images(3, 2, 4, pixels()));
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(labels, images, "t"); },
                                         {labels.string(), "0x00000801", "1 dimension", "expected 3"});
}

TEST_F(IdxTest, CountMismatch) {
  const fs::path images = file("images"), labels = file("labels");
  write_raw(images, idx_images(3, 2, 4, pixels()));
  write_raw(labels, idx_labels({1, 2}));
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(images, labels, "t"); },
                                         {images.string(), labels.string(), "3 images but 2 labels"});
}

TEST_F(IdxTest, LabelTooLarge) {
  const fs::path images = file("images"), labels = file("labels");
  write_raw(images, idx_images(3, 2, 4, pixels()));
  write_raw(labels, idx_labels({1, 12, 3}));
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(images, labels, "t", 10); },
                                         {labels.string(), "label 12", "index 1", "< 10"});
}

TEST_F(IdxTest, CorruptGzip) {
  descent::detail::SplitMix64 random(3);
  Bytes p(200 * 28 * 28);
  for (auto& b : p) b = static_cast<std::uint8_t>(random.below(8) * 32);
  const fs::path images = file("images.gz"), labels = file("labels");
  write_gz(images, idx_images(200, 28, 28, p));
  write_raw(labels, idx_labels(Bytes(200, 1)));
  ASSERT_NO_THROW(descent::nn::read_idx(images, labels, "t"));
  Bytes gz = read_all(images);
  ASSERT_GT(gz.size(), 1000u);
  for (std::size_t i = gz.size() / 2; i < gz.size() / 2 + 8; ++i) gz[i] = static_cast<std::uint8_t>(~gz[i]);
  write_raw(images, gz);
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(images, labels, "t"); },
                                         {images.string(), "corrupt gzip data"});
  // Cut in half: the compressed stream ends early.
  gz = read_all(images);
  write_gz(images, idx_images(200, 28, 28, p));
  gz = read_all(images);
  gz.resize(gz.size() / 2);
  write_raw(images, gz);
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(images, labels, "t"); },
                                         {images.string(), "corrupt gzip data", "ends unexpectedly"});
  // Only the gzip magic.
  write_raw(images, {0x1f, 0x8b});
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(images, labels, "t"); },
                                         {images.string(), "corrupt gzip data"});
}

TEST_F(IdxTest, MissingFile) {
  write_pair(false, false);
  const fs::path missing = file("no-such-images");
  expect_error<descent::NotFound>([&] { descent::nn::read_idx(missing, labels_, "t"); },
                                  {missing.string(), "no such file"});
  expect_error<descent::NotFound>([&] { descent::nn::read_idx(images_, file("no-labels"), "t"); },
                                  {file("no-labels").string(), "no such file"});
  // NotFound is a descent::Error.
  EXPECT_THROW(descent::nn::read_idx(missing, labels_, "t"), descent::Error);
}

TEST_F(IdxTest, EmptyAndShortFiles) {
  write_pair(false, false);
  write_raw(file("empty"), {});
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(file("empty"), labels_, "t"); },
                                         {file("empty").string(), "empty", "0 bytes"});
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(images_, file("empty"), "t"); },
                                         {file("empty").string(), "empty"});
  // A gzip file that decompresses to nothing.
  write_gz(file("empty.gz"), {});
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(file("empty.gz"), labels_, "t"); },
                                         {file("empty.gz").string(), "empty"});
  // A header cut short.
  Bytes header = idx_images(3, 2, 4, {});
  header.resize(10);
  write_raw(file("short"), header);
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(file("short"), labels_, "t"); },
                                         {file("short").string(), "only 10 bytes", "16-byte"});
  write_raw(file("short"), {0, 0});
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(file("short"), labels_, "t"); },
                                         {file("short").string(), "only 2 bytes"});
}

TEST_F(IdxTest, ZeroSizes) {
  write_pair(false, false);
  write_raw(file("zero"), idx_images(0, 2, 4, {}));
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(file("zero"), labels_, "t"); },
                                         {file("zero").string(), "0 images"});
  write_raw(file("zero"), idx_images(3, 0, 4, {}));
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(file("zero"), labels_, "t"); },
                                         {file("zero").string(), "0 x 4"});
  write_raw(file("zero"), idx_labels({}));
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(images_, file("zero"), "t"); },
                                         {file("zero").string(), "0 labels"});
}

TEST_F(IdxTest, AbsurdSizes) {
  write_pair(false, false);
  // The product of the dimensions overflows 64 bits.
  write_raw(file("huge"), idx_images(0xffffffff, 0xffffffff, 0xffffffff, pixels()));
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(file("huge"), labels_, "t"); },
                                         {file("huge").string(), "4294967295 images of 4294967295 x 4294967295",
                                          "absurdly large"});
  // Large but plausible: checked against the data actually there, without allocating for the claim.
  write_raw(file("huge"), idx_images(3, 40000, 40000, pixels()));
  expect_error<descent::InvalidArgument>([&] { descent::nn::read_idx(file("huge"), labels_, "t"); },
                                         {file("huge").string(), "expected 4800000000 bytes of image data",
                                          "file has 24"});
}

TEST_F(IdxTest, LoadMnistFormatFolder) {
  const Bytes train_pixels = pixels();
  write_gz(file("train-images-idx3-ubyte.gz"), idx_images(3, 2, 4, train_pixels));
  write_raw(file("train-labels-idx1-ubyte"), idx_labels({2, 0, 1}));
  write_raw(file("t10k-images-idx3-ubyte"), idx_images(1, 2, 4, Bytes(8, 255)));
  write_gz(file("t10k-labels-idx1-ubyte.gz"), idx_labels({0}));
  const descent::nn::TrainTest sets = descent::nn::load_mnist_format(dir_, "tiny");
  EXPECT_EQ(sets.train.name, "tiny/train");
  EXPECT_EQ(sets.test.name, "tiny/test");
  EXPECT_EQ(sets.train.samples, 3u);
  EXPECT_EQ(sets.test.samples, 1u);
  EXPECT_EQ(sets.train.classes, 3u);
  EXPECT_EQ(sets.test.classes, 3u);  // the training set's, though the test set only has label 0
  EXPECT_EQ(sets.test.inputs, std::vector<float>(8, 1.0f));

  // A test label the training set does not have.
  write_gz(file("t10k-labels-idx1-ubyte.gz"), idx_labels({5}));
  expect_error<descent::InvalidArgument>([&] { descent::nn::load_mnist_format(dir_, "tiny"); },
                                         {"t10k-labels-idx1-ubyte.gz", "label 5", "< 3"});
  // Test images of another shape.
  write_gz(file("t10k-labels-idx1-ubyte.gz"), idx_labels({0}));
  write_raw(file("t10k-images-idx3-ubyte"), idx_images(1, 4, 2, Bytes(8, 255)));
  expect_error<descent::InvalidArgument>([&] { descent::nn::load_mnist_format(dir_, "tiny"); },
                                         {"t10k-images-idx3-ubyte", "4 x 2", "2 x 4"});
}

TEST_F(IdxTest, LoadMnistFormatMissing) {
  expect_error<descent::NotFound>([&] { descent::nn::load_mnist_format(file("nowhere"), "x"); },
                                  {file("nowhere").string(), "does not exist"});
  write_raw(file("a-file"), {1});
  expect_error<descent::NotFound>([&] { descent::nn::load_mnist_format(file("a-file"), "x"); },
                                  {file("a-file").string(), "is not a folder"});
  write_raw(file("train-images-idx3-ubyte"), idx_images(3, 2, 4, pixels()));
  write_raw(file("t10k-labels-idx1-ubyte.gz"), idx_labels({0}));
  expect_error<descent::NotFound>([&] { descent::nn::load_mnist_format(dir_, "x"); },
                                  {dir_.string(), "train-labels-idx1-ubyte[.gz]", "t10k-images-idx3-ubyte[.gz]"});
}

TEST(DataFashionMnist, LoadsInstalledSet) {
  if (!descent::nn::fashion_mnist_available()) {
    GTEST_SKIP() << "Fashion-MNIST is not installed at " << descent::nn::kFashionMnistFolder
                 << " (Debian: dataset-fashion-mnist)";
  }
  const auto sets = descent::nn::load_mnist_format(descent::nn::kFashionMnistFolder, "fashion-mnist");
  for (const Dataset* data : {&sets.train, &sets.test}) {
    SCOPED_TRACE(data->name);
    EXPECT_EQ(data->rows, 28u);
    EXPECT_EQ(data->cols, 28u);
    EXPECT_EQ(data->features, 784u);
    EXPECT_EQ(data->classes, 10u);
    ASSERT_EQ(data->inputs.size(), data->samples * 784);
    ASSERT_EQ(data->labels.size(), data->samples);
    const auto [low, high] = std::minmax_element(data->inputs.begin(), data->inputs.end());
    EXPECT_EQ(*low, 0.0f);
    EXPECT_EQ(*high, 1.0f);
    std::vector<std::size_t> per_class(10);
    for (const std::int32_t label : data->labels) {
      ASSERT_TRUE(label >= 0 && label < 10) << label;
      ++per_class[static_cast<std::size_t>(label)];
    }
    EXPECT_EQ(per_class, std::vector<std::size_t>(10, data->samples / 10));
  }
  EXPECT_EQ(sets.train.samples, 60000u);
  EXPECT_EQ(sets.test.samples, 10000u);
}

TEST(Spirals, SizesAndBalancedLabels) {
  const auto sets = descent::nn::make_spirals(301, 150, 3, 0.1, 5);
  EXPECT_EQ(sets.train.name, "spirals/train");
  EXPECT_EQ(sets.test.name, "spirals/test");
  for (const Dataset* data : {&sets.train, &sets.test}) {
    EXPECT_EQ(data->features, 2u);
    EXPECT_EQ(data->classes, 3u);
    EXPECT_EQ(data->rows, 0u);
    EXPECT_EQ(data->cols, 0u);
    EXPECT_EQ(data->inputs.size(), 2 * data->samples);
    ASSERT_EQ(data->labels.size(), data->samples);
    std::vector<std::size_t> per_class(3);
    for (const std::int32_t label : data->labels) ++per_class.at(static_cast<std::size_t>(label));
    const auto [low, high] = std::minmax_element(per_class.begin(), per_class.end());
    EXPECT_LE(*high - *low, 1u);
    for (const float v : data->inputs) EXPECT_LT(std::abs(v), 1.8f);
  }
  EXPECT_EQ(sets.train.samples, 301u);
  EXPECT_EQ(sets.test.samples, 150u);
  const auto defaults = descent::nn::make_spirals();
  EXPECT_EQ(defaults.train.samples, 2000u);
  EXPECT_EQ(defaults.test.samples, 1000u);
  EXPECT_EQ(defaults.train.classes, 2u);
}

TEST(Spirals, DeterministicForASeed) {
  const auto a = descent::nn::make_spirals(500, 200, 2, 0.1, 42);
  const auto b = descent::nn::make_spirals(500, 200, 2, 0.1, 42);
  ASSERT_EQ(a.train.inputs.size(), b.train.inputs.size());
  EXPECT_EQ(std::memcmp(a.train.inputs.data(), b.train.inputs.data(), a.train.inputs.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(a.test.inputs.data(), b.test.inputs.data(), a.test.inputs.size() * sizeof(float)), 0);
  EXPECT_EQ(a.train.labels, b.train.labels);
  const auto c = descent::nn::make_spirals(500, 200, 2, 0.1, 43);
  EXPECT_NE(a.train.inputs, c.train.inputs);
  EXPECT_NE(a.test.inputs, c.test.inputs);
  // Train and test are different draws.
  EXPECT_NE(std::vector<float>(a.train.inputs.begin(), a.train.inputs.begin() + 400),
            std::vector<float>(a.test.inputs.begin(), a.test.inputs.begin() + 400));
}

TEST(Spirals, PointsLieOnTheArmsWithoutNoise) {
  // With noise 0 each point is at radius r and angle 2 pi (label / classes + 1.25 r): checks the portable
  // sin and cos against the library's atan2.
  const auto sets = descent::nn::make_spirals(400, 3, 3, 0.0, 9);
  const double two_pi = 2.0 * std::acos(-1.0);
  for (std::size_t i = 0; i < sets.train.samples; ++i) {
    const double x = sets.train.inputs[2 * i], y = sets.train.inputs[2 * i + 1];
    const double r = std::hypot(x, y);
    ASSERT_LE(r, 1.0 + 1e-6);
    if (r < 1e-3) continue;
    const double expected = two_pi * (static_cast<double>(sets.train.labels[i]) / 3.0 + 1.25 * r);
    double difference = std::remainder(std::atan2(y, x) - expected, two_pi);
    EXPECT_LT(std::abs(difference), 1e-5 / r) << i;
  }
}

TEST(Spirals, RejectsBadArguments) {
  expect_error<descent::InvalidArgument>([] { descent::nn::make_spirals(100, 100, 1); }, {"classes = 1"});
  expect_error<descent::InvalidArgument>([] { descent::nn::make_spirals(2, 100, 3); }, {"2 train", "classes = 3"});
  expect_error<descent::InvalidArgument>([] { descent::nn::make_spirals(100, 0, 2); }, {"0 test"});
  expect_error<descent::InvalidArgument>([] { descent::nn::make_spirals(100, 100, 2, -0.5); }, {"noise = -0.5"});
  expect_error<descent::InvalidArgument>([] { descent::nn::make_spirals(100, 100, 2, std::nan("")); },
                                         {"noise = nan"});
}

// Sample i has inputs (1000 i + j) for j < features and label i % 7.
Dataset counting_set(std::size_t samples, std::size_t features) {
  Dataset data;
  data.name = "counting";
  data.samples = samples;
  data.features = features;
  data.classes = 7;
  for (std::size_t i = 0; i < samples; ++i) {
    for (std::size_t j = 0; j < features; ++j) data.inputs.push_back(static_cast<float>(1000 * i + j));
    data.labels.push_back(static_cast<std::int32_t>(i % 7));
  }
  return data;
}

// Every batch of `epochs` epochs, and an empty entry for each end-of-epoch false.
std::vector<std::vector<std::size_t>> take(BatchLoader& loader, std::size_t epochs) {
  std::vector<std::vector<std::size_t>> out;
  std::span<const std::size_t> batch;
  for (std::size_t e = 0; e < epochs;) {
    if (loader.next(batch)) {
      out.emplace_back(batch.begin(), batch.end());
    } else {
      EXPECT_TRUE(batch.empty());
      out.emplace_back();
      ++e;
    }
  }
  return out;
}

std::vector<std::size_t> flatten_epoch(const std::vector<std::vector<std::size_t>>& batches, std::size_t epoch) {
  std::vector<std::size_t> out;
  std::size_t e = 0;
  for (const auto& batch : batches) {
    if (batch.empty()) {
      if (e++ == epoch) break;
      continue;
    }
    if (e == epoch) out.insert(out.end(), batch.begin(), batch.end());
  }
  return out;
}

TEST(BatchLoader, EverySampleOncePerEpoch) {
  const Dataset data = counting_set(103, 2);
  BatchLoader loader(data, 10, 1);
  EXPECT_EQ(loader.batches_per_epoch(), 11u);
  EXPECT_EQ(loader.batch_size(), 10u);
  std::span<const std::size_t> batch;
  for (std::size_t epoch = 0; epoch < 3; ++epoch) {
    EXPECT_EQ(loader.epoch(), epoch);
    std::vector<std::size_t> seen;
    for (std::size_t b = 0; b < 11; ++b) {
      EXPECT_EQ(loader.position(), b);
      ASSERT_TRUE(loader.next(batch));
      EXPECT_EQ(batch.size(), b < 10 ? 10u : 3u);
      seen.insert(seen.end(), batch.begin(), batch.end());
    }
    EXPECT_EQ(loader.position(), 11u);
    EXPECT_EQ(loader.epoch(), epoch);
    EXPECT_FALSE(loader.next(batch));
    EXPECT_EQ(loader.epoch(), epoch + 1);
    EXPECT_EQ(loader.position(), 0u);
    std::sort(seen.begin(), seen.end());
    for (std::size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], i);
    EXPECT_EQ(seen.size(), 103u);
  }
}

TEST(BatchLoader, OrderChangesWithEpochAndSeed) {
  const Dataset data = counting_set(200, 1);
  BatchLoader a(data, 32, 7), b(data, 32, 7), c(data, 32, 8);
  const auto run_a = take(a, 3), run_b = take(b, 3), run_c = take(c, 3);
  EXPECT_EQ(run_a, run_b);
  EXPECT_NE(run_a, run_c);
  EXPECT_NE(flatten_epoch(run_a, 0), flatten_epoch(run_a, 1));
  EXPECT_NE(flatten_epoch(run_a, 1), flatten_epoch(run_a, 2));
  std::vector<std::size_t> identity(200);
  for (std::size_t i = 0; i < identity.size(); ++i) identity[i] = i;
  EXPECT_NE(flatten_epoch(run_a, 0), identity);
}

TEST(BatchLoader, NoShuffleKeepsIndexOrder) {
  const Dataset data = counting_set(25, 3);
  BatchLoader loader(data, 10, 7, false);
  const auto run = take(loader, 2);
  std::vector<std::size_t> identity(25);
  for (std::size_t i = 0; i < identity.size(); ++i) identity[i] = i;
  EXPECT_EQ(flatten_epoch(run, 0), identity);
  EXPECT_EQ(flatten_epoch(run, 1), identity);
  EXPECT_EQ(run[0], (std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(run[2], (std::vector<std::size_t>{20, 21, 22, 23, 24}));
}

TEST(BatchLoader, FullBatchAndClamping) {
  const Dataset data = counting_set(50, 2);
  for (const std::size_t size : {std::size_t{0}, std::size_t{50}, std::size_t{1000}}) {
    BatchLoader loader(data, size, 3);
    EXPECT_EQ(loader.batch_size(), 50u);
    EXPECT_EQ(loader.batches_per_epoch(), 1u);
    std::span<const std::size_t> batch;
    for (int epoch = 0; epoch < 2; ++epoch) {
      ASSERT_TRUE(loader.next(batch));
      std::vector<std::size_t> all(batch.begin(), batch.end());
      std::sort(all.begin(), all.end());
      ASSERT_EQ(all.size(), 50u);
      for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], i);
      EXPECT_FALSE(loader.next(batch));
    }
    EXPECT_EQ(loader.epoch(), 2u);
  }
}

TEST(BatchLoader, SeekReproducesTheSequence) {
  const Dataset data = counting_set(37, 1);
  BatchLoader reference(data, 8, 11);
  const auto run = take(reference, 4);  // 4 epochs of 5 batches and a false each
  ASSERT_EQ(run.size(), 24u);
  // For every point (epoch e, position p) of the run, a fresh loader seeks there and continues identically.
  for (std::size_t k = 0; k < run.size(); ++k) {
    const std::size_t e = k / 6, p = k % 6;
    BatchLoader loader(data, 8, 11);
    loader.seek(e, p);
    EXPECT_EQ(loader.epoch(), e);
    EXPECT_EQ(loader.position(), p);
    std::span<const std::size_t> batch;
    for (std::size_t j = k; j < run.size(); ++j) {
      const bool more = loader.next(batch);
      ASSERT_EQ(more, !run[j].empty()) << "from " << e << ", " << p << " at " << j;
      ASSERT_EQ(std::vector<std::size_t>(batch.begin(), batch.end()), run[j]) << "from " << e << ", " << p;
    }
  }
  // Seeking back on a used loader.
  reference.seek(1, 2);
  std::span<const std::size_t> batch;
  ASSERT_TRUE(reference.next(batch));
  EXPECT_EQ(std::vector<std::size_t>(batch.begin(), batch.end()), run[8]);
  expect_error<descent::InvalidArgument>([&] { reference.seek(0, 6); }, {"position 6", "5 batches"});
}

TEST(BatchLoader, GatherCopiesRows) {
  const Dataset data = counting_set(20, 3);
  BatchLoader loader(data, 4, 5);
  std::vector<float> inputs{99.0f};
  std::vector<std::int32_t> labels;
  std::span<const std::size_t> batch;
  ASSERT_TRUE(loader.next(batch));
  loader.gather(batch, inputs, labels);
  ASSERT_EQ(inputs.size(), 12u);
  ASSERT_EQ(labels.size(), 4u);
  for (std::size_t b = 0; b < 4; ++b) {
    for (std::size_t j = 0; j < 3; ++j) EXPECT_EQ(inputs[3 * b + j], static_cast<float>(1000 * batch[b] + j));
    EXPECT_EQ(labels[b], static_cast<std::int32_t>(batch[b] % 7));
  }
  const std::vector<std::size_t> chosen{19, 0, 19};
  loader.gather(chosen, inputs, labels);
  EXPECT_EQ(inputs, (std::vector<float>{19000, 19001, 19002, 0, 1, 2, 19000, 19001, 19002}));
  EXPECT_EQ(labels, (std::vector<std::int32_t>{5, 0, 5}));
  const std::vector<std::size_t> bad{3, 20};
  expect_error<descent::InvalidArgument>([&] { loader.gather(bad, inputs, labels); }, {"index 20", "20 samples"});
  EXPECT_EQ(labels.size(), 3u);  // unchanged by the failed call
}

TEST(BatchLoader, RejectsBadDataSets) {
  Dataset empty;
  empty.name = "nothing";
  empty.features = 2;
  expect_error<descent::InvalidArgument>([&] { BatchLoader(empty, 4, 1); }, {"'nothing'", "no samples"});
  Dataset data = counting_set(10, 2);
  data.labels.pop_back();
  expect_error<descent::InvalidArgument>([&] { BatchLoader(data, 4, 1); }, {"10 samples but 9 labels"});
  data = counting_set(10, 2);
  data.inputs.pop_back();
  expect_error<descent::InvalidArgument>([&] { BatchLoader(data, 4, 1); }, {"19 input values"});
}

TEST(BatchLoader, TrainsOverSpirals) {
  // The two pieces together, as the front end uses them.
  const auto sets = descent::nn::make_spirals(100, 10);
  BatchLoader loader(sets.train, 32, 1);
  EXPECT_EQ(loader.batches_per_epoch(), 4u);
  std::vector<float> x;
  std::vector<std::int32_t> y;
  std::span<const std::size_t> batch;
  std::size_t rows = 0;
  while (loader.next(batch)) {
    loader.gather(batch, x, y);
    rows += y.size();
    EXPECT_EQ(x.size(), 2 * y.size());
  }
  EXPECT_EQ(rows, 100u);
}

}  // namespace
