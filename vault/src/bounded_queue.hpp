// A small blocking queue between the two threads of a streaming transfer. Bounded so memory
// stays fixed however large the item; abort() wakes both sides when either fails.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>

namespace tillid::detail {

template <class T>
class BoundedQueue {
 public:
  explicit BoundedQueue(std::size_t capacity) : capacity_(capacity) {}

  // False if the queue was aborted.
  bool push(T v) {
    std::unique_lock lk(m_);
    not_full_.wait(lk, [&] { return aborted_ || q_.size() < capacity_; });
    if (aborted_) return false;
    q_.push_back(std::move(v));
    // Notify after unlocking: a waiter woken while we still hold the mutex would run, find it
    // locked and sleep again, two extra context switches per hand-off on a busy machine.
    lk.unlock();
    not_empty_.notify_one();
    return true;
  }

  // nullopt if the queue was aborted.
  std::optional<T> pop() {
    std::unique_lock lk(m_);
    not_empty_.wait(lk, [&] { return aborted_ || !q_.empty(); });
    if (aborted_) return std::nullopt;
    T v = std::move(q_.front());
    q_.pop_front();
    lk.unlock();  // as in push()
    not_full_.notify_one();
    return v;
  }

  void abort() {
    std::lock_guard lk(m_);
    aborted_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable not_empty_, not_full_;
  std::deque<T> q_;
  std::size_t capacity_;
  bool aborted_ = false;
};

}  // namespace tillid::detail
