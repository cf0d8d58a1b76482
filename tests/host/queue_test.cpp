// SPDX-License-Identifier: GPL-2.0-or-later
// The queue between inputs and a pipeline: producers that drop fill it to its capacity, producers
// that wait stop at its (lower) wait limit and resume once a group of items has been taken.
#include <doctest/doctest.h>

#include <atomic>       // std::atomic
#include <chrono>       // std::chrono
#include <thread>       // std::thread, std::this_thread::sleep_for
#include <vector>       // std::vector

#include "runtime.hpp"  // BoundedQueue

using namespace flowacct::host;
using namespace std::chrono_literals;

namespace {

// Polls `done` for up to 30 s (a slow, sanitized machine included).
template <class F> bool eventually(F done) {
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (!done()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

} // namespace

TEST_CASE("dropping producers fill the capacity; waiting producers stop at the wait limit") {
    BoundedQueue<int> q(256, 8);
    for (int i = 0; i < 20; ++i) REQUIRE(q.try_push(i));
    CHECK(q.size() == 20);

    std::atomic<bool> pushed{false};
    std::thread producer([&] {
        CHECK(q.push_wait(100));
        pushed.store(true);
    });
    // 20 queued, limit 8: the producer waits until a group of 4 has room (4 queued or fewer).
    std::this_thread::sleep_for(50ms);
    CHECK_FALSE(pushed.load());
    int out = -1;
    const auto far = std::chrono::steady_clock::now() + 1s;
    while (q.size() > 5) REQUIRE(q.pop_until(out, far));
    std::this_thread::sleep_for(50ms);
    CHECK_FALSE(pushed.load()); // 5 queued: no room for a group yet
    REQUIRE(q.pop_until(out, far));
    CHECK(eventually([&] { return pushed.load(); }));
    producer.join();
    CHECK(q.size() == 5);
    // Order is kept: the waiting producer's item comes last.
    std::vector<int> rest;
    CHECK(q.pop_many_until(rest, 10, far) == 5);
    CHECK(rest.back() == 100);
}

TEST_CASE("close releases a waiting producer, which reports the item not taken") {
    BoundedQueue<int> q(16, 8);
    for (int i = 0; i < 8; ++i) REQUIRE(q.push_wait(i));
    std::atomic<int> result{-1};
    std::thread producer([&] { result.store(q.push_wait(99) ? 1 : 0); });
    std::this_thread::sleep_for(20ms);
    CHECK(result.load() == -1);
    q.close();
    CHECK(eventually([&] { return result.load() != -1; }));
    producer.join();
    CHECK(result.load() == 0);
    CHECK_FALSE(q.try_push(1));
}

TEST_CASE("without a wait limit, waiting producers use the whole capacity") {
    BoundedQueue<int> q(16);
    for (int i = 0; i < 16; ++i) REQUIRE(q.push_wait(i));
    CHECK(q.size() == 16);
    CHECK_FALSE(q.try_push(16));
}
