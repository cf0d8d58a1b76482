// SPDX-License-Identifier: GPL-2.0-or-later
// The running host: module instances wired into inputs and pipelines, the batch pool, the
// per-pipeline bounded queues and the threads that drive them.
#pragma once

#include <algorithm>          // std::max, std::min
#include <atomic>              // std::atomic
#include <chrono>              // std::chrono::steady_clock
#include <condition_variable>  // std::condition_variable
#include <cstdint>             // std::uint64_t
#include <deque>               // std::deque
#include <map>                 // std::map
#include <memory>              // std::shared_ptr, std::unique_ptr
#include <mutex>               // std::mutex
#include <string>              // std::string
#include <thread>              // std::thread
#include <vector>              // std::vector

#include <flowacct/abi.h>      // fa_batch, fa_host_api

#include "config.hpp"          // ConfigModel, Declaration
#include "module_loader.hpp"   // ModuleCatalog, ModuleLibrary
#include "registry.hpp"        // CounterRegistry, InternTable

namespace flowacct::host {

inline constexpr std::uint32_t kBatchRecords = 1024;
/// Batches a waiting producer (a savefile input) keeps queued per pipeline: 8 x 232 KiB.
inline constexpr std::size_t kWaitBatches = 8;
inline constexpr std::uint32_t kPayloadBytesPerRecord = 512;
inline constexpr std::uint64_t kTickUs = 100'000; // pipeline housekeeping period

class Host;
class BatchPool;

/// A batch with its storage. `batch` comes first so a fa_batch* maps back to its BatchBuf.
struct BatchBuf {
    fa_batch batch{};
    std::vector<fa_record> records;
    std::vector<std::uint8_t> payload;
};
using SharedBatch = std::shared_ptr<const BatchBuf>;

/// Reuses batch storage; thread-safe.
class BatchPool {
public:
    explicit BatchPool(std::uint32_t payload_per_record) : payload_per_record_(payload_per_record) {}
    BatchBuf* acquire();
    void release(BatchBuf* b);
    /// Shares `b` read-only; it returns to the pool when the last holder lets go.
    SharedBatch share(BatchBuf* b);

private:
    std::uint32_t payload_per_record_;
    std::mutex mu_;
    std::vector<std::unique_ptr<BatchBuf>> all_;
    std::vector<BatchBuf*> free_;
};

/// A datagram copied once by the host and shared read-only by every pipeline taking datagrams.
struct DatagramBuf {
    fa_datagram d{};
    std::vector<std::uint8_t> bytes;
};
using SharedDatagram = std::shared_ptr<const DatagramBuf>;

/// A bounded queue between the input threads and one pipeline thread (shared batches, or
/// shared datagrams for datagram-only pipelines).
///
/// Two bounds: `capacity` for producers that drop when the queue is full (live capture, UDP: the
/// depth absorbs bursts), and `wait_limit` for producers that wait for room instead (savefiles),
/// which lose nothing by waiting early: a shallow queue keeps the batches in flight few, so they are
/// recycled while still in the CPU's caches and no fresh memory is faulted in for them.
///
/// Wake-ups come in groups: a thread switch costs about as much as aggregating a few hundred
/// records, and a fast consumer would otherwise sleep and be woken once per item. The consumer,
/// finding the queue empty, sleeps until `wake_at` items wait (or its deadline, at most one
/// housekeeping tick, or close); a producer waiting for room sleeps until there is room for
/// `wake_at` items. Items wait at most one tick (100 ms) longer than they would otherwise.
template <class T> class BoundedQueue {
public:
    explicit BoundedQueue(std::size_t capacity, std::size_t wait_limit = 0)
        : capacity_(capacity), wake_at_(std::max<std::size_t>(1, std::min<std::size_t>(kWakeItems, capacity / 2))),
          wait_limit_(wait_limit == 0 ? capacity : std::clamp(wait_limit, 2 * wake_at_, capacity)) {}
    /// Non-blocking; false when full.
    bool try_push(const T& b) {
        bool wake;
        {
            std::lock_guard<std::mutex> g(mu_);
            if (closed_ || items_.size() >= capacity_) return false;
            items_.push_back(b);
            wake = items_.size() == wake_at_;
        }
        if (wake) not_empty_.notify_one();
        return true;
    }
    /// Waits until fewer than `wait_limit` items are queued; false once closed.
    bool push_wait(const T& b) {
        bool wake;
        {
            std::unique_lock<std::mutex> g(mu_);
            if (items_.size() >= wait_limit_)
                not_full_.wait(g, [&] { return closed_ || items_.size() + wake_at_ <= wait_limit_; });
            if (closed_) return false;
            items_.push_back(b);
            wake = items_.size() == wake_at_;
        }
        if (wake) not_empty_.notify_one();
        return true;
    }
    /// As push_wait, but gives up (false) at `deadline`.
    bool push_wait_until(const T& b, std::chrono::steady_clock::time_point deadline) {
        bool wake;
        {
            std::unique_lock<std::mutex> g(mu_);
            if (items_.size() >= wait_limit_ &&
                !not_full_.wait_until(g, deadline, [&] { return closed_ || items_.size() + wake_at_ <= wait_limit_; }))
                return false;
            if (closed_) return false;
            items_.push_back(b);
            wake = items_.size() == wake_at_;
        }
        if (wake) not_empty_.notify_one();
        return true;
    }
    /// Waits until an item arrives, the deadline passes, or the queue is closed and empty.
    bool pop_until(T& out, std::chrono::steady_clock::time_point deadline) {
        std::unique_lock<std::mutex> g(mu_);
        if (!wait_for_items(g, deadline)) return false;
        out = std::move(items_.front());
        items_.pop_front();
        const bool wake = room_opened(items_.size() + 1);
        g.unlock();
        if (wake) not_full_.notify_all(); // every waiting producer: each may push one
        return true;
    }
    /// As pop_until, but takes up to `max` items at once (appended to `out`); returns how many.
    std::size_t pop_many_until(std::vector<T>& out, std::size_t max, std::chrono::steady_clock::time_point deadline) {
        std::unique_lock<std::mutex> g(mu_);
        if (!wait_for_items(g, deadline)) return 0;
        const std::size_t before = items_.size();
        std::size_t n = 0;
        while (n < max && !items_.empty()) {
            out.push_back(std::move(items_.front()));
            items_.pop_front();
            ++n;
        }
        const bool wake = room_opened(before);
        g.unlock();
        if (wake) not_full_.notify_all();
        return n;
    }
    void close() {
        {
            std::lock_guard<std::mutex> g(mu_);
            closed_ = true;
        }
        not_empty_.notify_all();
        not_full_.notify_all();
    }
    bool closed_and_empty() {
        std::lock_guard<std::mutex> g(mu_);
        return closed_ && items_.empty();
    }
    std::size_t size() {
        std::lock_guard<std::mutex> g(mu_);
        return items_.size();
    }
    std::size_t capacity() const { return capacity_; }

private:
    static constexpr std::size_t kWakeItems = 4;
    // With the lock held: true when items are there to take (an empty queue first sleeps until a
    // group of items waits, or the deadline, or close).
    bool wait_for_items(std::unique_lock<std::mutex>& g, std::chrono::steady_clock::time_point deadline) {
        if (items_.empty()) not_empty_.wait_until(g, deadline, [&] { return items_.size() >= wake_at_ || closed_; });
        return !items_.empty();
    }
    // With the lock held, after a pop from `before` items: whether waiting producers now have room
    // for a group (they wait for exactly that).
    bool room_opened(std::size_t before) const {
        return before + wake_at_ > wait_limit_ && items_.size() + wake_at_ <= wait_limit_;
    }

    std::size_t capacity_;
    std::size_t wake_at_;
    std::size_t wait_limit_;
    std::mutex mu_;
    std::condition_variable not_empty_, not_full_;
    std::deque<T> items_;
    bool closed_ = false;
};
using BatchQueue = BoundedQueue<SharedBatch>;
using DatagramQueue = BoundedQueue<SharedDatagram>;

/// Rows of one purge chunk, copied once by a pipeline that shares its aggregation and read by
/// each pipeline that follows it.
struct RowChunk {
    std::vector<fa_row> rows;
    fa_row_batch batch{};
};
using SharedRows = std::shared_ptr<const RowChunk>;
using RowQueue = BoundedQueue<SharedRows>;

/// One module instance and the host services handed to it.
struct InstanceCtx {
    Host* host = nullptr;
    std::string instance;              // "a", "nf"
    std::string owner;                 // "a/memory"
    std::shared_ptr<ModuleLibrary> library;
    std::map<std::string, std::string> extra; // host-provided keys such as "__output"
    fa_host_api api{};
    void* object = nullptr;
    struct InputRunner* input = nullptr;
    ~InstanceCtx();
    void create(); // throws ConfigError
};

struct Pipeline {
    std::string name;
    std::string output_module;
    std::vector<std::unique_ptr<InstanceCtx>> stages; // classifier-kind modules, in order
    std::unique_ptr<InstanceCtx> aggregator;          // null for a datagram-only pipeline
    std::unique_ptr<InstanceCtx> output;
    std::unique_ptr<DatagramQueue> datagrams;         // datagram-only pipelines (tee)
    std::vector<fa_record> scratch;                   // private copy of a batch for the stages
    std::atomic<bool> reload_requested{false};
    std::uint64_t maps_refresh_s = 0;
    std::unique_ptr<BatchQueue> queue;
    std::thread thread;
    std::atomic<bool> finished{false}; // run() returned: queue drained, output flushed
    std::uint64_t* records_in = nullptr;
    std::uint64_t* queue_dropped = nullptr;
    std::uint64_t* rows_out = nullptr;
    std::uint64_t* write_errors = nullptr;
    std::uint64_t* records_dropped_by_stages = nullptr;
    std::uint64_t* datagrams_in = nullptr;
    std::uint64_t* datagrams_dropped = nullptr;
    // Shared aggregation: pipelines whose records, stages and aggregation are the same (only the
    // output differs) aggregate once. The leader (the first of them) runs the stages and the
    // aggregator and hands a copy of every purged row chunk to its followers, which only write.
    Pipeline* leader = nullptr;                       // set on a follower
    std::vector<Pipeline*> followers;                 // set on a leader
    std::unique_ptr<RowQueue> rows;                   // a follower's rows from its leader
    std::uint64_t* rows_dropped = nullptr;            // a follower's rows lost to a full queue
    bool final_purge = false;                         // (under mu) the last purge: followers get all
    bool stalled = false;                             // a follower that left its leader waiting
    const std::atomic<bool>* inputs_waiting = nullptr; // the host's: some input waits for room
    // A waiting producer (a savefile) ingests on its own thread, under `mu`, instead of queueing:
    // the records are aggregated while still in its core's cache. The pipeline thread takes `mu`
    // for its queue, purges and reloads.
    std::mutex mu;
    fa_row_sink sink{}; // the aggregator's purges: to the followers, then to this output
    /// Sets up the sink; before any thread starts.
    void prepare();
    /// Stages, aggregation and an early purge of one batch; with `mu` held.
    void ingest_batch(const fa_batch& b);
    void run();
    void run_datagrams();
    void run_follower();
    /// The loop of a pipeline that only writes: takes up to `max_burst` items at a time and calls
    /// write(output ops, items), reloads and ticks between, then flushes once `queue` is closed
    /// and drained.
    template <class T, class Write>
    void write_until_closed(BoundedQueue<T>& queue, std::size_t max_burst, Write&& write);
    void hand_to_followers(const fa_row_batch& rows);
    void reload_stages();
};

struct InputRunner {
    std::unique_ptr<InstanceCtx> ctx;
    std::thread thread;
    std::atomic<bool> stop{false};
    std::atomic<bool> finished{false};
    std::atomic<bool> backpressure{false};
    fa_status result = FA_OK;
    std::uint32_t index = 0;
    std::uint64_t* records_out = nullptr;
    std::uint64_t* datagrams_out = nullptr;
};

/// Options the command line gives the host beyond configuration keys.
struct HostOptions {
    std::string module_dir;   // --module-path (overrides the module_path key)
    std::string program_name; // argv[0] basename: nfacctd/sfacctd/pmacctd pick their input
};

class Host {
public:
    Host(ConfigModel model, HostOptions options);
    ~Host();

    /// Loads modules and validates every key; throws ConfigError / LoadError. No instances yet.
    void load();
    /// Creates the module instances (inputs bind their sockets here). Throws on failure.
    void create_instances();
    /// Starts pipeline and input threads.
    void start();
    /// True once every input returned (a savefile ended) or one failed.
    bool inputs_done() const;
    /// Stops inputs, drains the queues, flushes aggregators and outputs, joins everything.
    /// Returns false if an input or output failed. Same as begin_stop() then finish_stop().
    bool stop();
    /// Starts stopping on a thread of its own and returns at once: inputs are asked to stop and
    /// joined, then every queue is closed and drained and every output flushed.
    void begin_stop();
    /// True once everything begin_stop() started has finished.
    bool stop_done() const { return stop_done_.load(); }
    /// While stopping: one line per input or pipeline still running, with what it still holds.
    std::vector<std::string> still_stopping() const;
    /// Waits for begin_stop()'s work, logs the counters and destroys the module instances.
    /// Returns false if an input or output failed.
    bool finish_stop();
    /// The shutdown_timeout key in seconds; 0 = wait for the outputs as long as they take.
    std::uint64_t shutdown_timeout_s() const { return shutdown_timeout_s_; }
    void reload_maps();
    void log_counters();

    ModuleCatalog& catalog() { return *catalog_; }
    const ConfigModel& model() const { return model_; }
    CounterRegistry& counters() { return counters_; }
    InternTable& names() { return names_; }
    std::string stats_json();

    // Services for InstanceCtx.
    const char* config_value(const InstanceCtx& c, const char* key) const;
    fa_batch* acquire_batch();
    std::uint32_t submit_batch(InputRunner& in, fa_batch* b);
    bool datagrams_wanted() const { return datagram_pipelines_ > 0; }
    void submit_datagram(InputRunner& in, const fa_datagram& d);
    /// An input turned waiting for room on or off.
    void note_backpressure(bool on);

private:
    std::unique_ptr<InstanceCtx> make_ctx(const std::string& instance, std::shared_ptr<ModuleLibrary> lib);
    void validate_keys();
    std::vector<Declaration> input_declarations() const;
    std::string aggregator_for(const Declaration& d);
    /// maps_refresh of a pipeline in seconds; 0 = only SIGUSR2. Throws ConfigError.
    std::uint64_t maps_refresh_of(const std::string& pipeline) const;
    /// The stage modules of a pipeline: implied by the keys it has (networks_file, pre_tag_map,
    /// classifiers, ...) in a fixed order, then the `stages` key's own list.
    std::vector<std::string> stages_for(const std::string& pipeline) const;
    /// What decides a pipeline's rows apart from its output (stages, aggregator, the values of every
    /// key but the output's own); empty when it must not share (share_aggregation: false, ...).
    std::string aggregation_signature(const Declaration& d);

    ConfigModel model_;
    HostOptions options_;
    std::unique_ptr<ModuleCatalog> catalog_;
    CounterRegistry counters_;
    InternTable names_;
    std::unique_ptr<BatchPool> pool_;
    std::vector<std::unique_ptr<Pipeline>> pipelines_;
    std::vector<std::unique_ptr<InputRunner>> inputs_;
    std::vector<Declaration> plugin_decls_, input_decls_;
    std::size_t queue_batches_ = 256;
    std::size_t queue_datagrams_ = 16384;
    std::size_t datagram_pipelines_ = 0;
    std::uint64_t shutdown_timeout_s_ = 0;
    std::atomic<bool> inputs_waiting_{false}; // an input is a waiting producer (a savefile)
    bool inline_ingest_ = true;               // waiting producers ingest on their own thread
    bool started_ = false;
    bool stopped_ = false;
    std::thread stopper_;
    std::atomic<bool> stop_done_{false};
    bool stop_ok_ = true;
    bool finished_stop_ = false;
};

/// True when `ops` describe a datagram-only output (minor 1: write NULL, datagrams set).
bool is_datagram_output(const fa_output_ops& ops);

/// The keys the host itself understands.
const std::vector<fa_config_key>& host_keys();
/// True for a pmacct key name.
bool is_pmacct_key(const std::string& key);

} // namespace flowacct::host
