#include "descent/aligned_buffer.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

namespace descent {

void AlignedBuffer::Free::operator()(std::byte* p) const noexcept { std::free(p); }

AlignedBuffer::AlignedBuffer(std::size_t bytes) { resize(bytes); }

void AlignedBuffer::resize(std::size_t bytes) {
  if (bytes <= size_) return;
  // aligned_alloc wants a size that is a multiple of the alignment.
  const std::size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  auto* fresh = static_cast<std::byte*>(std::aligned_alloc(kAlignment, rounded));
  if (fresh == nullptr) throw std::bad_alloc();
  if (size_ > 0) std::memcpy(fresh, data_.get(), size_);
  std::memset(fresh + size_, 0, rounded - size_);
  data_.reset(fresh);
  size_ = bytes;
}

}  // namespace descent
