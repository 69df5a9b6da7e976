// Pipelined whole-object transfers: see object_stream.hpp.
#include "object_stream.hpp"

#include <algorithm>
#include <optional>
#include <thread>
#include <vector>

#include "bounded_queue.hpp"
#include "posix_io.hpp"

namespace tillid::detail {

namespace {

// Three buffers (one being filled, one being encrypted/written, one of slack), each holding
// several chunks: handing over 4 MiB at a time keeps the thread hand-offs rare, which
// matters on a busy two-core machine where every wake-up may wait for a time slice.
// 12 MiB of plaintext buffers at the 1 MiB document chunk size.
constexpr int kBuffers = 3;
constexpr std::size_t kChunksPerBlock = 4;

// The most plaintext hashed and handed to the sink at a time, so the sink copies it while it
// is still in L2. A sink usually write()s to a file, and slices this size also keep the page
// cache on small folios for sinks that do not go through write_all (see kMaxWriteBytes).
constexpr std::size_t kSinkSlice = kMaxWriteBytes;

struct Block {
  int index = 0;
  std::size_t size = 0;
  bool final = false;
};

// Joins the worker on every path out, including an exception thrown by a callback.
struct WorkerGuard {
  std::thread& t;
  BoundedQueue<int>& free_q;
  BoundedQueue<Block>& full_q;
  ~WorkerGuard() {
    if (t.joinable()) {
      free_q.abort();
      full_q.abort();
      t.join();
    }
  }
};

// Plaintext buffers are Secrets: mlock'ed where the limit allows, and wiped when freed.
std::vector<Secret> make_buffers(std::size_t size) {
  std::vector<Secret> b;
  b.reserve(kBuffers);
  for (int i = 0; i < kBuffers; ++i) b.emplace_back(size);
  return b;
}

}  // namespace

Result<StreamDigest> encrypt_stream(ObjectWriter& w, const ByteSource& source,
                                    std::uint32_t chunk_size) {
  TILLID_ASSIGN(Sha256 sha, Sha256::create());
  std::vector<Secret> bufs = make_buffers(std::size_t{chunk_size} * kChunksPerBlock);
  BoundedQueue<int> free_q(kBuffers);
  BoundedQueue<Block> full_q(kBuffers);
  for (int i = 0; i < kBuffers; ++i) free_q.push(i);

  std::optional<Error> worker_error;
  std::thread worker([&] {
    while (auto b = full_q.pop()) {
      // FORMAT.md §3.3: full chunks, the last one short; an empty block is one empty final chunk.
      const unsigned char* p = bufs[b->index].data();
      std::size_t left = b->size;
      do {
        std::size_t n = std::min<std::size_t>(left, chunk_size);
        left -= n;
        auto r = w.append_chunk({p, n}, b->final && left == 0);
        if (!r.ok()) {
          worker_error = r.error();
          free_q.abort();
          return;
        }
        p += n;
      } while (left > 0);
      if (b->final) return;
      free_q.push(b->index);
    }
  });
  WorkerGuard guard{worker, free_q, full_q};

  StreamDigest d;
  std::optional<Error> source_error;
  std::optional<Block> pending;  // a full buffer we cannot tag until we know what follows
  for (;;) {
    auto idx = free_q.pop();
    if (!idx) break;  // the worker failed
    std::size_t n = 0;
    auto buf = bufs[*idx].bytes();
    while (n < buf.size()) {
      auto got = source(buf.subspan(n));
      if (!got.ok()) {
        source_error = got.error();
        break;
      }
      if (got.value() == 0) break;
      if (got.value() > buf.size() - n) {
        source_error = make_error(Errc::internal, "content source returned more bytes than asked");
        break;
      }
      n += got.value();
    }
    if (source_error) break;
    sha.update({buf.data(), n});
    d.size += n;
    if (n == 0 && pending) {  // content ended exactly on a block boundary
      pending->final = true;
      full_q.push(*pending);
      pending.reset();
      break;
    }
    if (pending) {
      full_q.push(*pending);
      pending.reset();
    }
    if (n < buf.size()) {  // short (or empty) buffer: the content ended here
      full_q.push(Block{*idx, n, true});
      break;
    }
    pending = Block{*idx, n, false};
  }
  if (source_error) {
    full_q.abort();
    worker.join();
    return *source_error;
  }
  worker.join();
  if (worker_error) return *worker_error;
  if (!w.finished()) return make_error(Errc::internal, "object writer did not reach the final chunk");
  TILLID_ASSIGN(d.sha256, sha.finish());
  return d;
}

Result<StreamDigest> decrypt_stream(ObjectReader& r, const ByteSink* sink) {
  TILLID_ASSIGN(Sha256 sha, Sha256::create());
  const std::size_t chunk = r.header().chunk_size;
  std::vector<Secret> bufs = make_buffers(chunk * kChunksPerBlock);
  BoundedQueue<int> free_q(kBuffers);
  BoundedQueue<Block> full_q(kBuffers);
  for (int i = 0; i < kBuffers; ++i) free_q.push(i);

  std::optional<Error> worker_error;
  std::thread worker([&] {
    while (auto idx = free_q.pop()) {
      auto buf = bufs[*idx].bytes();
      std::size_t used = 0;
      bool final = false;
      // Fill the block with whole authenticated chunks while one more surely fits.
      while (!final && buf.size() - used >= chunk) {
        auto c = r.next(buf.subspan(used));
        if (!c.ok()) {
          // Chunks already handed over authenticated; this block's do not reach the sink.
          worker_error = c.error();
          full_q.abort();
          return;
        }
        used += c->size;
        final = c->final;
      }
      full_q.push(Block{*idx, used, final});
      if (final) return;
    }
  });
  WorkerGuard guard{worker, free_q, full_q};

  StreamDigest d;
  std::optional<Error> sink_error;
  bool done = false;
  while (auto b = full_q.pop()) {
    d.size += b->size;
    // Hash and hand over one slice at a time: the slice is still in cache when the sink
    // copies it, and small writes keep the page cache on small folios (see kSinkSlice).
    for (std::size_t at = 0; at < b->size && !sink_error; at += kSinkSlice) {
      std::span<const unsigned char> bytes{bufs[b->index].data() + at, std::min(kSinkSlice, b->size - at)};
      sha.update(bytes);
      if (sink == nullptr) continue;
      auto s = (*sink)(bytes);
      if (!s.ok()) sink_error = s.error();
    }
    if (sink_error) break;
    if (b->final) {
      done = true;
      break;
    }
    free_q.push(b->index);
  }
  if (sink_error) {
    free_q.abort();
    worker.join();
    return *sink_error;
  }
  worker.join();
  if (worker_error) return *worker_error;
  if (!done || !r.finished()) return make_error(Errc::internal, "object reader stopped before the final chunk");
  TILLID_ASSIGN(d.sha256, sha.finish());
  return d;
}

}  // namespace tillid::detail
