// Data sets for the neural-network front end: IDX files (MNIST, Fashion-MNIST), a generated spirals set
// (the default when no data set is installed), and seeded, resumable mini-batches.
//
//   auto data = descent::nn::fashion_mnist_available()
//                   ? descent::nn::load_mnist_format(descent::nn::kFashionMnistFolder, "fashion-mnist")
//                   : descent::nn::make_spirals();
//   descent::nn::BatchLoader loader(data.train, 64, /*seed=*/1);
//   std::span<const std::size_t> batch;
//   while (loader.next(batch)) {           // one epoch
//     loader.gather(batch, x, y);
//     ...
//   }
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace descent::nn {

struct Dataset {
  std::string name;
  std::size_t samples = 0, features = 0, classes = 0;
  std::size_t rows = 0, cols = 0;          // image shape for image sets (rows * cols == features), 0 otherwise
  std::vector<float> inputs;               // samples x features, row-major; images scaled to [0, 1] (byte / 255)
  std::vector<std::int32_t> labels;        // in [0, classes)
};

struct TrainTest {
  Dataset train, test;
};

// Reads an IDX image file (magic 0x00000803: unsigned bytes, 3 dimensions: images x rows x columns) and
// its IDX label file (magic 0x00000801: unsigned bytes, 1 dimension), each gzip-compressed or not (detected
// by the gzip magic bytes 1f 8b). Pixels are scaled to [0, 1] (byte / 255).
//
// classes 0 means max label + 1 (10 for MNIST-format sets); otherwise every label must be < classes, and
// the result has exactly `classes` classes (load_mnist_format reads the test set with the training set's).
//
// Throws NotFound (a descent::Error) for a missing file, Error when a file cannot be opened or read, and
// InvalidArgument for bad content: a bad magic number, a wrong dimension count, a size of 0 or absurdly
// large, data shorter or longer than the header says, corrupt gzip data, image and label counts that differ,
// a label out of range. Every message names the file and the offending value.
Dataset read_idx(const std::filesystem::path& images, const std::filesystem::path& labels, std::string name,
                 std::size_t classes = 0);

// Loads train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte
// from a folder, each under its own name or with .gz appended (the uncompressed one when both exist).
// The sets are named name + "/train" and name + "/test"; the test set has the training set's class count.
// Throws NotFound naming the folder, or every file looked for and not found; otherwise as read_idx.
TrainTest load_mnist_format(const std::filesystem::path& folder, std::string name);

inline constexpr const char* kFashionMnistFolder = "/usr/share/datasets/fashion-mnist";  // Debian's dataset-fashion-mnist

// Whether kFashionMnistFolder holds all four files (compressed or not). Never throws.
bool fashion_mnist_available();

// `classes` interleaved spirals in the plane (1.25 turns each, radius up to 1, arms 2 pi / classes apart),
// each point displaced by Gaussian-like noise of standard deviation `noise` in each coordinate: inputs
// roughly in [-1, 1]. Sample i has label i % classes (balanced). The same numbers for a seed on every IEEE
// platform (no library sin/cos); train and test come from the same distribution with seeds derived from
// `seed`. Named "spirals/train" and "spirals/test".
// Needs classes >= 2, train_samples and test_samples >= classes, noise finite and >= 0.
TrainTest make_spirals(std::size_t train_samples = 2000, std::size_t test_samples = 1000, std::size_t classes = 2,
                       double noise = 0.1, std::uint64_t seed = 1);

// Seeded, shuffled mini-batches over a Dataset, which must outlive the loader and not change size.
// batch_size 0 means full batch (every sample in one batch per epoch: batch gradient descent); a batch size
// larger than the data set is clamped to it. Each epoch visits every sample exactly once, in an order drawn
// at the start of the epoch from (seed, epoch) alone, so that training can be resumed exactly with seek();
// shuffle = false keeps index order. Throws InvalidArgument for a data set with no samples or whose inputs
// or labels do not match its sample count.
class BatchLoader {
 public:
  BatchLoader(const Dataset& data, std::size_t batch_size, std::uint64_t seed, bool shuffle = true);
  // The loader keeps a pointer to the data set: a temporary would dangle.
  BatchLoader(Dataset&& data, std::size_t batch_size, std::uint64_t seed, bool shuffle = true) = delete;

  // Sets `indices` to the next batch's sample indices (the last batch of an epoch may be smaller) and
  // returns true; after the last batch of an epoch it returns false once (indices empty), and the following
  // call starts the next epoch. The indices stay valid until the next call to next() or seek().
  bool next(std::span<const std::size_t>& indices);

  std::size_t epoch() const { return epoch_; }         // epochs completed (next() has returned false)
  std::size_t position() const { return position_; }   // batches taken in the current epoch
  std::size_t batches_per_epoch() const { return batches_per_epoch_; }
  std::size_t batch_size() const { return batch_size_; }  // after clamping; the full data set for 0

  // Resume exactly: after seek(e, p), next() returns what it would have returned after e epochs and p
  // batches. Needs p <= batches_per_epoch() (p == batches_per_epoch(): the epoch's end, next() returns false).
  void seek(std::size_t epoch, std::size_t position);

  // Copies the batch's rows into inputs (indices.size() x features, row-major) and its labels, resizing
  // both. Throws InvalidArgument for an index out of range.
  void gather(std::span<const std::size_t> indices, std::vector<float>& inputs,
              std::vector<std::int32_t>& labels) const;

 private:
  void draw_order();

  const Dataset* data_;
  std::size_t batch_size_;
  std::size_t batches_per_epoch_;
  std::uint64_t seed_;
  bool shuffle_;
  std::size_t epoch_ = 0;
  std::size_t position_ = 0;
  std::vector<std::size_t> order_;
};

}  // namespace descent::nn
