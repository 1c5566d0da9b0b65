// IDX files, plain or gzip-compressed (through zlib's inflate), the generated spirals and the batch loader.
//
// IDX (LeCun & Cortes, the MNIST database): a big-endian header, then the data.
//   bytes 0-1  zero
//   byte  2    data type: 0x08 unsigned byte (the only type read here)
//   byte  3    number of dimensions
//   then one 32-bit big-endian size per dimension, then the values, last dimension fastest.
// Images are 0x00000803 (images x rows x columns), labels 0x00000801 (a count).
#include "descent/nn/data.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <system_error>
#include <utility>

#include "descent/error.hpp"
#include "random.hpp"

namespace descent::nn {
namespace {

namespace fs = std::filesystem;

// A header claiming more than this many bytes of data is rejected before anything is read (Fashion-MNIST's
// training images are 47 MB; 1 TiB is absurd for a data set held in memory as floats).
constexpr std::uint64_t kMaxDataBytes = std::uint64_t{1} << 40;

std::string idx_prefix(const fs::path& path) { return "IDX file '" + path.string() + "': "; }

std::string hex32(std::uint32_t value) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "0x%08x", static_cast<unsigned>(value));
  return buffer;
}

std::string plural(std::uint64_t count, const char* singular, const char* plural_form) {
  return std::to_string(count) + " " + (count == 1 ? singular : plural_form);
}

// Bytes from a file, decompressed on the fly when it starts with the gzip magic 1f 8b. Concatenated gzip
// members are read one after the other, as gzip -d does.
class ByteReader {
 public:
  explicit ByteReader(fs::path path) : path_(std::move(path)), in_(kInputChunk) {
    file_.reset(std::fopen(path_.c_str(), "rb"));
    if (!file_) {
      const int error = errno;
      if (error == ENOENT) throw NotFound(idx_prefix(path_) + "no such file");
      throw Error(idx_prefix(path_) + "cannot open: " + std::strerror(error));
    }
    std::error_code error;
    file_size_ = fs::file_size(path_, error);
    if (error) file_size_ = 0;
    fill();
    gzip_ = available_ >= 2 && in_[0] == 0x1f && in_[1] == 0x8b;
    if (gzip_) {
      auto stream = std::make_unique<z_stream>();
      std::memset(stream.get(), 0, sizeof(z_stream));
      // 15 + 16: a gzip wrapper (header, CRC-32 and length are checked), the largest window.
      if (inflateInit2(stream.get(), 15 + 16) != Z_OK) throw std::bad_alloc();
      stream_.reset(stream.release());
      stream_->next_in = in_.data();
      stream_->avail_in = static_cast<uInt>(available_);
      available_ = 0;
    }
  }
  ByteReader(const ByteReader&) = delete;
  ByteReader& operator=(const ByteReader&) = delete;

  bool gzip() const { return gzip_; }
  const fs::path& path() const { return path_; }
  std::uint64_t consumed() const { return produced_; }  // bytes returned so far (decompressed, for gzip)

  // A guess at the bytes the file holds, to size a buffer before reading (0 when unknown): the file's size,
  // or for gzip 16 times it (MNIST's images compress about 5:1, Fashion-MNIST's 2:1; beyond that a buffer
  // just grows). Never trusted for correctness, only to avoid both reallocation and believing a header.
  std::uint64_t size_hint() const {
    constexpr std::uint64_t kRatio = 16;
    if (!gzip_) return file_size_;
    return file_size_ > std::numeric_limits<std::uint64_t>::max() / kRatio ? std::numeric_limits<std::uint64_t>::max()
                                                                             : file_size_ * kRatio;
  }

  // Reads up to n bytes; fewer only at the end of the data.
  std::size_t read(std::uint8_t* out, std::size_t n) {
    std::size_t done = 0;
    while (done < n) {
      const std::size_t got = gzip_ ? inflate_some(out + done, n - done) : copy_some(out + done, n - done);
      if (got == 0) break;
      done += got;
    }
    produced_ += done;
    return done;
  }

 private:
  static constexpr std::size_t kInputChunk = std::size_t{1} << 18;

  // Refills in_ from the file (only when it is used up); sets eof_ at the end.
  void fill() {
    offset_ = 0;
    available_ = std::fread(in_.data(), 1, in_.size(), file_.get());
    if (available_ < in_.size()) {
      if (std::ferror(file_.get())) throw Error(idx_prefix(path_) + "cannot read: " + std::strerror(errno));
      eof_ = true;
    }
  }

  std::size_t copy_some(std::uint8_t* out, std::size_t n) {
    if (offset_ == available_) {
      if (eof_) return 0;
      fill();
      if (available_ == 0) return 0;
    }
    const std::size_t count = std::min(n, available_ - offset_);
    std::memcpy(out, in_.data() + offset_, count);
    offset_ += count;
    return count;
  }

  std::size_t inflate_some(std::uint8_t* out, std::size_t n) {
    if (finished_) return 0;
    z_stream& z = *stream_;
    const std::size_t limit = std::min<std::size_t>(n, std::numeric_limits<uInt>::max());
    z.next_out = out;
    z.avail_out = static_cast<uInt>(limit);
    while (z.avail_out > 0) {
      if (z.avail_in == 0 && !eof_) {
        fill();
        z.next_in = in_.data();
        z.avail_in = static_cast<uInt>(available_);
      }
      const uInt before_in = z.avail_in, before_out = z.avail_out;
      const int status = inflate(&z, Z_NO_FLUSH);
      if (status == Z_STREAM_END) {
        if (!next_member()) {
          finished_ = true;
          break;
        }
        continue;
      }
      if (status == Z_MEM_ERROR) throw std::bad_alloc();
      if (status == Z_DATA_ERROR || status == Z_NEED_DICT || status == Z_STREAM_ERROR) {
        throw InvalidArgument(idx_prefix(path_) + "corrupt gzip data after " +
                              std::to_string(produced_ + (limit - z.avail_out)) + " decompressed bytes (zlib: " +
                              (z.msg != nullptr ? z.msg : "data error") + ")");
      }
      if (z.avail_in == 0 && eof_ && (status == Z_BUF_ERROR || (before_in == 0 && before_out == z.avail_out))) {
        throw InvalidArgument(idx_prefix(path_) + "corrupt gzip data: the compressed stream ends unexpectedly after " +
                              std::to_string(produced_ + (limit - z.avail_out)) +
                              " decompressed bytes (truncated file?)");
      }
    }
    return limit - z.avail_out;
  }

  // After the end of a gzip member: another member follows (true), the file ends (false), or junk follows.
  bool next_member() {
    z_stream& z = *stream_;
    if (z.avail_in == 0 && !eof_) {
      fill();
      z.next_in = in_.data();
      z.avail_in = static_cast<uInt>(available_);
    }
    if (z.avail_in == 0) return false;
    if (z.next_in[0] != 0x1f || (z.avail_in >= 2 && z.next_in[1] != 0x8b)) {
      throw InvalidArgument(idx_prefix(path_) + "corrupt gzip data: bytes that are not a gzip member follow the end "
                            "of the compressed stream");
    }
    if (inflateReset(&z) != Z_OK) throw InvalidArgument(idx_prefix(path_) + "cannot restart gzip decompression");
    return true;
  }

  struct CloseFile {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };
  struct EndInflate {
    void operator()(z_stream* stream) const {
      inflateEnd(stream);
      delete stream;
    }
  };

  fs::path path_;
  std::unique_ptr<std::FILE, CloseFile> file_;
  std::vector<std::uint8_t> in_;
  std::size_t available_ = 0, offset_ = 0;
  bool eof_ = false, gzip_ = false, finished_ = false;
  std::unique_ptr<z_stream, EndInflate> stream_;
  std::uint64_t produced_ = 0;
  std::uint64_t file_size_ = 0;
};

// "file has" for raw files, "decompressed file has" for gzip ones.
std::string has_words(const ByteReader& reader) { return reader.gzip() ? "decompressed file has" : "file has"; }

// Reads and checks the magic number and the sizes; `kind` is "image" or "label".
std::vector<std::uint32_t> read_header(ByteReader& reader, std::uint8_t dimensions, const char* kind,
                                       const char* layout) {
  const std::size_t header_bytes = 4 + 4 * std::size_t{dimensions};
  const std::uint32_t expected_magic = 0x00000800u | dimensions;
  std::array<std::uint8_t, 16> header{};
  const std::size_t got = reader.read(header.data(), 4);
  const std::string prefix = idx_prefix(reader.path());
  if (got == 0) {
    throw InvalidArgument(prefix + (reader.gzip() ? "the gzip data is empty" : "the file is empty") +
                          " (0 bytes): expected an IDX " + kind + " file, whose header alone is " +
                          std::to_string(header_bytes) + " bytes");
  }
  if (got < 4) {
    throw InvalidArgument(prefix + has_words(reader) + " only " + plural(got, "byte", "bytes") +
                          ", too short for the " + std::to_string(header_bytes) + "-byte IDX " + kind + " header");
  }
  const std::uint32_t magic = std::uint32_t{header[0]} << 24 | std::uint32_t{header[1]} << 16 |
                              std::uint32_t{header[2]} << 8 | std::uint32_t{header[3]};
  if (header[0] != 0 || header[1] != 0 || header[2] != 0x08) {
    throw InvalidArgument(prefix + "bad magic number " + hex32(magic) + ": not an IDX " + kind +
                          " file (expected " + hex32(expected_magic) + ": unsigned bytes, " +
                          plural(dimensions, "dimension", "dimensions") + ")");
  }
  if (header[3] != dimensions) {
    throw InvalidArgument(prefix + "magic number " + hex32(magic) + " gives " +
                          plural(header[3], "dimension", "dimensions") + ", expected " + std::to_string(dimensions) +
                          " for an IDX " + kind + " file (" + layout + ")");
  }
  const std::size_t size_bytes = header_bytes - 4;
  const std::size_t got_sizes = reader.read(header.data() + 4, size_bytes);
  if (got_sizes < size_bytes) {
    throw InvalidArgument(prefix + has_words(reader) + " only " + plural(4 + got_sizes, "byte", "bytes") +
                          ", too short for the " + std::to_string(header_bytes) + "-byte IDX " + kind + " header");
  }
  std::vector<std::uint32_t> sizes(dimensions);
  for (std::size_t d = 0; d < dimensions; ++d) {
    const std::uint8_t* p = header.data() + 4 + 4 * d;
    sizes[d] = std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | std::uint32_t{p[3]};
  }
  return sizes;
}

// Reads exactly `expected` bytes of data, converting each byte to a T, and checks that nothing follows.
// Memory grows with the data that is actually there (reserved up front from the file's size), so a header
// that lies about its sizes cannot make this allocate much more than the file holds.
template <class T, class Convert>
std::vector<T> read_data(ByteReader& reader, std::uint64_t expected, const char* kind, const std::string& shape,
                         Convert convert) {
  constexpr std::size_t kChunk = std::size_t{1} << 20;
  const std::uint64_t header = reader.consumed();
  std::vector<T> data;
  const std::uint64_t hint = reader.size_hint();
  data.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(expected, hint != 0 ? hint : kChunk)));
  std::vector<std::uint8_t> chunk(static_cast<std::size_t>(std::min<std::uint64_t>(expected, kChunk)));
  bool short_read = false;
  while (data.size() < expected) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(expected - data.size(), kChunk));
    const std::size_t got = reader.read(chunk.data(), want);
    const std::size_t old = data.size();
    data.resize(old + got);
    std::transform(chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(got),
                   data.begin() + static_cast<std::ptrdiff_t>(old), convert);
    if (got < want) {
      short_read = true;
      break;
    }
  }
  std::uint64_t extra = 0;
  if (!short_read) {
    std::array<std::uint8_t, 1 << 16> sink;
    for (;;) {
      const std::size_t got = reader.read(sink.data(), sink.size());
      extra += got;
      if (got < sink.size()) break;
    }
  }
  if (short_read || extra > 0) {
    const std::uint64_t present = data.size() + extra;
    throw InvalidArgument(idx_prefix(reader.path()) + (short_read ? "truncated: " : "trailing data: ") + "expected " +
                          std::to_string(expected) + " bytes of " + kind + " data (" + shape + "), file has " +
                          std::to_string(present) + " after its " + std::to_string(header) + "-byte header" +
                          (reader.gzip() ? " (decompressed)" : ""));
  }
  return data;
}

const std::array<float, 256>& pixel_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<float>(i) / 255.0f;
    return t;
  }();
  return table;
}

// The folder's file for `base`: base itself or base.gz (empty when neither is a regular file).
fs::path find_either(const fs::path& folder, const std::string& base) {
  std::error_code error;
  if (fs::is_regular_file(folder / base, error)) return folder / base;
  if (fs::is_regular_file(folder / (base + ".gz"), error)) return folder / (base + ".gz");
  return {};
}

constexpr std::array<const char*, 4> kMnistFiles = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                                     "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

// sin and cos from additions and multiplications only (reduction to [-pi/4, pi/4], then Taylor polynomials
// to degree 17 and 18, below 1e-16 there), so that the spirals are bitwise the same on every IEEE platform:
// the library's sin and cos are not correctly rounded everywhere. Meant for the moderate angles used here.
void portable_sincos(double x, double& sine, double& cosine) {
  constexpr double kTwoOverPi = 0.63661977236758134308;
  constexpr double kPiOver2Hi = 1.5707963267948966;      // nearest double to pi / 2
  constexpr double kPiOver2Lo = 6.123233995736766e-17;   // pi / 2 - kPiOver2Hi
  const double k = std::round(x * kTwoOverPi);
  const double r = (x - k * kPiOver2Hi) - k * kPiOver2Lo;
  const double r2 = r * r;
  // sin r = r (1 - r^2/(2*3) (1 - r^2/(4*5) (1 - ...))), cos r = 1 - r^2/(1*2) (1 - r^2/(3*4) (1 - ...)).
  double s = 1.0, c = 1.0;
  for (int n = 16; n >= 2; n -= 2) s = 1.0 - r2 / (static_cast<double>(n) * (n + 1)) * s;
  for (int n = 17; n >= 1; n -= 2) c = 1.0 - r2 / (static_cast<double>(n) * (n + 1)) * c;
  s *= r;
  const auto quadrant = static_cast<long long>(k) & 3;
  switch (quadrant) {
    case 0: sine = s; cosine = c; break;
    case 1: sine = c; cosine = -s; break;
    case 2: sine = -s; cosine = -c; break;
    default: sine = -c; cosine = s; break;
  }
}

Dataset spiral_set(std::string name, std::size_t samples, std::size_t classes, double noise, std::uint64_t seed) {
  constexpr double kTwoPi = 6.283185307179586477;
  constexpr double kTurns = 1.25;
  Dataset data;
  data.name = std::move(name);
  data.samples = samples;
  data.features = 2;
  data.classes = classes;
  data.inputs.resize(2 * samples);
  data.labels.resize(samples);
  detail::SplitMix64 random(seed);
  for (std::size_t i = 0; i < samples; ++i) {
    const std::size_t label = i % classes;
    // r = sqrt(u): points spread evenly over the area the arms sweep, not crowded at the centre.
    const double radius = std::sqrt(random.uniform());
    const double angle = kTwoPi * (static_cast<double>(label) / static_cast<double>(classes) + kTurns * radius);
    double sine = 0.0, cosine = 0.0;
    portable_sincos(angle, sine, cosine);
    const double x = radius * cosine + noise * random.normal();
    const double y = radius * sine + noise * random.normal();
    data.inputs[2 * i] = static_cast<float>(x);
    data.inputs[2 * i + 1] = static_cast<float>(y);
    data.labels[i] = static_cast<std::int32_t>(label);
  }
  return data;
}

}  // namespace

Dataset read_idx(const fs::path& images, const fs::path& labels, std::string name, std::size_t classes) {
  if (classes > 256) {
    throw InvalidArgument("read_idx: classes = " + std::to_string(classes) +
                          " is out of range: IDX labels are bytes, so at most 256 classes");
  }
  ByteReader image_reader(images);
  const std::vector<std::uint32_t> image_sizes = read_header(image_reader, 3, "image", "images x rows x columns");
  const std::uint64_t count = image_sizes[0], rows = image_sizes[1], cols = image_sizes[2];
  if (count == 0) throw InvalidArgument(idx_prefix(images) + "the header says 0 images");
  if (rows == 0 || cols == 0) {
    throw InvalidArgument(idx_prefix(images) + "the header says images of " + std::to_string(rows) + " x " +
                          std::to_string(cols) + " pixels: a size of 0");
  }
  const std::string shape = plural(count, "image", "images") + " of " + std::to_string(rows) + " x " +
                            std::to_string(cols);
  // rows * cols < 2^64 always; count * rows * cols > kMaxDataBytes exactly when rows * cols > kMaxDataBytes / count
  // (integer division), which cannot overflow.
  if (rows * cols > kMaxDataBytes / count) {
    throw InvalidArgument(idx_prefix(images) + "the header says " + shape +
                          " pixels: absurdly large (more than 2^40 bytes of image data)");
  }

  ByteReader label_reader(labels);
  const std::uint64_t label_count = read_header(label_reader, 1, "label", "a count of labels")[0];
  if (label_count == 0) throw InvalidArgument(idx_prefix(labels) + "the header says 0 labels");
  if (label_count != count) {
    throw InvalidArgument("IDX files '" + images.string() + "' and '" + labels.string() + "': " +
                          plural(count, "image", "images") + " but " + plural(label_count, "label", "labels"));
  }

  const std::array<float, 256>& table = pixel_table();
  std::vector<float> pixels = read_data<float>(image_reader, count * rows * cols, "image", shape,
                                               [&](std::uint8_t byte) { return table[byte]; });
  std::vector<std::int32_t> label_values =
      read_data<std::int32_t>(label_reader, label_count, "label", plural(label_count, "label", "labels"),
                              [](std::uint8_t byte) { return std::int32_t{byte}; });

  const std::int32_t max_label = *std::max_element(label_values.begin(), label_values.end());
  if (classes != 0 && static_cast<std::size_t>(max_label) >= classes) {
    const auto at = std::find(label_values.begin(), label_values.end(), max_label) - label_values.begin();
    throw InvalidArgument(idx_prefix(labels) + "label " + std::to_string(max_label) + " (at index " +
                          std::to_string(at) + ") is out of range: must be < " + std::to_string(classes) +
                          " classes");
  }

  Dataset data;
  data.name = std::move(name);
  data.samples = static_cast<std::size_t>(count);
  data.rows = static_cast<std::size_t>(rows);
  data.cols = static_cast<std::size_t>(cols);
  data.features = data.rows * data.cols;
  data.classes = classes != 0 ? classes : static_cast<std::size_t>(max_label) + 1;
  data.inputs = std::move(pixels);
  data.labels = std::move(label_values);
  return data;
}

TrainTest load_mnist_format(const fs::path& folder, std::string name) {
  std::error_code error;
  if (!fs::is_directory(folder, error)) {
    const bool exists = fs::exists(folder, error);
    throw NotFound("load_mnist_format: '" + folder.string() + "' " +
                   (exists ? "is not a folder" : "does not exist") + " (looked for an MNIST-format data set there)");
  }
  std::array<fs::path, 4> paths;
  std::string missing;
  for (std::size_t i = 0; i < kMnistFiles.size(); ++i) {
    paths[i] = find_either(folder, kMnistFiles[i]);
    if (paths[i].empty()) missing += std::string(missing.empty() ? "" : ", ") + kMnistFiles[i] + "[.gz]";
  }
  if (!missing.empty()) {
    throw NotFound("load_mnist_format: folder '" + folder.string() + "' has no " + missing);
  }
  TrainTest sets;
  sets.train = read_idx(paths[0], paths[1], name + "/train");
  sets.test = read_idx(paths[2], paths[3], name + "/test", sets.train.classes);
  if (sets.test.rows != sets.train.rows || sets.test.cols != sets.train.cols) {
    throw InvalidArgument("load_mnist_format: test images '" + paths[2].string() + "' are " +
                          std::to_string(sets.test.rows) + " x " + std::to_string(sets.test.cols) +
                          ", training images '" + paths[0].string() + "' are " + std::to_string(sets.train.rows) +
                          " x " + std::to_string(sets.train.cols));
  }
  return sets;
}

bool fashion_mnist_available() {
  const fs::path folder(kFashionMnistFolder);
  std::error_code error;
  if (!fs::is_directory(folder, error)) return false;
  return std::all_of(kMnistFiles.begin(), kMnistFiles.end(),
                     [&](const char* base) { return !find_either(folder, base).empty(); });
}

TrainTest make_spirals(std::size_t train_samples, std::size_t test_samples, std::size_t classes, double noise,
                       std::uint64_t seed) {
  if (classes < 2) {
    throw InvalidArgument("make_spirals: classes = " + std::to_string(classes) + " is out of range: must be >= 2");
  }
  if (train_samples < classes || test_samples < classes) {
    throw InvalidArgument("make_spirals: " + std::to_string(train_samples) + " train and " +
                          std::to_string(test_samples) + " test samples: each must be >= classes = " +
                          std::to_string(classes) + ", so that every class has a sample");
  }
  if (!std::isfinite(noise) || noise < 0.0) {
    throw InvalidArgument("make_spirals: noise = " + format_number(noise) +
                          " is out of range: must be finite and >= 0");
  }
  detail::SplitMix64 seeds(seed);
  const std::uint64_t train_seed = seeds.next();
  const std::uint64_t test_seed = seeds.next();
  TrainTest sets;
  sets.train = spiral_set("spirals/train", train_samples, classes, noise, train_seed);
  sets.test = spiral_set("spirals/test", test_samples, classes, noise, test_seed);
  return sets;
}

BatchLoader::BatchLoader(const Dataset& data, std::size_t batch_size, std::uint64_t seed, bool shuffle)
    : data_(&data), seed_(seed), shuffle_(shuffle) {
  const std::string prefix = "BatchLoader: data set '" + data.name + "' ";
  if (data.samples == 0) throw InvalidArgument(prefix + "has no samples");
  if (data.labels.size() != data.samples) {
    throw InvalidArgument(prefix + "has " + std::to_string(data.samples) + " samples but " +
                          std::to_string(data.labels.size()) + " labels");
  }
  if (data.features == 0 || data.inputs.size() / data.features != data.samples ||
      data.inputs.size() % data.features != 0) {
    throw InvalidArgument(prefix + "has " + std::to_string(data.inputs.size()) + " input values, expected " +
                          std::to_string(data.samples) + " samples x " + std::to_string(data.features) +
                          " features (features must be >= 1)");
  }
  batch_size_ = batch_size == 0 ? data.samples : std::min(batch_size, data.samples);
  batches_per_epoch_ = (data.samples + batch_size_ - 1) / batch_size_;
  order_.resize(data.samples);
  draw_order();
}

void BatchLoader::draw_order() {
  for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = i;
  if (!shuffle_) return;
  // The epoch's own generator: a hash of (seed, epoch), so that any epoch's order can be drawn directly.
  const std::uint64_t key = detail::SplitMix64(seed_).next();
  detail::SplitMix64 random(detail::SplitMix64(key + static_cast<std::uint64_t>(epoch_)).next());
  random.shuffle(order_);
}

bool BatchLoader::next(std::span<const std::size_t>& indices) {
  if (position_ == batches_per_epoch_) {
    ++epoch_;
    position_ = 0;
    draw_order();
    indices = {};
    return false;
  }
  const std::size_t begin = position_ * batch_size_;
  const std::size_t count = std::min(batch_size_, order_.size() - begin);
  indices = std::span<const std::size_t>(order_.data() + begin, count);
  ++position_;
  return true;
}

void BatchLoader::seek(std::size_t epoch, std::size_t position) {
  if (position > batches_per_epoch_) {
    throw InvalidArgument("BatchLoader: seek position " + std::to_string(position) +
                          " is out of range: an epoch has " + std::to_string(batches_per_epoch_) + " batches");
  }
  const bool redraw = shuffle_ && epoch != epoch_;
  epoch_ = epoch;
  position_ = position;
  if (redraw) draw_order();
}

void BatchLoader::gather(std::span<const std::size_t> indices, std::vector<float>& inputs,
                         std::vector<std::int32_t>& labels) const {
  const Dataset& data = *data_;
  for (const std::size_t index : indices) {
    if (index >= data.samples) {
      throw InvalidArgument("BatchLoader::gather: index " + std::to_string(index) + " is out of range: data set '" +
                            data.name + "' has " + std::to_string(data.samples) + " samples");
    }
  }
  const std::size_t features = data.features;
  inputs.resize(indices.size() * features);
  labels.resize(indices.size());
  for (std::size_t b = 0; b < indices.size(); ++b) {
    const std::size_t index = indices[b];
    std::copy_n(data.inputs.begin() + static_cast<std::ptrdiff_t>(index * features), features,
                inputs.begin() + static_cast<std::ptrdiff_t>(b * features));
    labels[b] = data.labels[index];
  }
}

}  // namespace descent::nn
