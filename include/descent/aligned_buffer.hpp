// A zero-initialised, 64-byte aligned byte buffer: the storage of one optimizer state slot (an arena).
#pragma once

#include <cstddef>
#include <memory>
#include <utility>

namespace descent {

class AlignedBuffer {
 public:
  static constexpr std::size_t kAlignment = 64;  // a cache line; also the widest SIMD vector (AVX-512)

  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t bytes);
  AlignedBuffer(AlignedBuffer&& other) noexcept
      : data_(std::move(other.data_)), size_(std::exchange(other.size_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept {
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
    return *this;
  }

  std::byte* data() noexcept { return data_.get(); }
  const std::byte* data() const noexcept { return data_.get(); }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  // Grows to `bytes`, keeping the old contents and zeroing the new tail.
  void resize(std::size_t bytes);

 private:
  struct Free {
    void operator()(std::byte* p) const noexcept;
  };
  std::unique_ptr<std::byte[], Free> data_;
  std::size_t size_ = 0;
};

}  // namespace descent
