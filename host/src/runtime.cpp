// SPDX-License-Identifier: GPL-2.0-or-later
// The running host: instances, batches, queues, threads.
#include "runtime.hpp"

#include <algorithm>   // std::min, std::find
#include <chrono>      // std::chrono
#include <cstddef>     // offsetof
#include <cstring>     // std::memcpy
#include <set>         // std::set
#include <unordered_set> // std::unordered_set

#include <flowacct/sdk/module.hpp> // sdk::parse_duration_s

#include "log.hpp"     // Log, log_info

namespace flowacct::host {

namespace {

std::uint64_t mono_us() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now().time_since_epoch()).count());
}
std::uint64_t wall_us() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::system_clock::now().time_since_epoch()).count());
}

} // namespace

// ---- keys ---------------------------------------------------------------

const std::vector<fa_config_key>& host_keys() {
    static const std::vector<fa_config_key> keys = {
        {"plugins", FA_KEY_LIST, "memory", "Pipelines: output modules as module[name], comma-separated"},
        {"inputs", FA_KEY_LIST, nullptr, "Input modules as module[name]; default from the keys used (pmacct's daemons)"},
        {"aggregator", FA_KEY_STRING, nullptr, "Aggregator module of a pipeline (default: what the output asks for, else hash)"},
        {"stages", FA_KEY_LIST, nullptr, "Extra classifier-kind modules of a pipeline, run before the aggregator"},
        {"maps_refresh", FA_KEY_STRING, "true", "true/false (SIGUSR2 always reloads maps), or seconds between periodic reloads"},
        {"daemonize", FA_KEY_BOOL, "false", "Run in the background"},
        {"pidfile", FA_KEY_PATH, nullptr, "Write the daemon's pid here"},
        {"logfile", FA_KEY_PATH, nullptr, "Log to this file (reopened on SIGHUP)"},
        {"syslog", FA_KEY_STRING, nullptr, "Log to syslog with this facility (daemon, local0..7)"},
        {"debug", FA_KEY_BOOL, "false", "Log debug lines"},
        {"module_path", FA_KEY_PATH, nullptr, "Directory of module shared objects"},
        {"user", FA_KEY_STRING, nullptr, "Drop to this user after binding sockets and opening captures"},
        {"group", FA_KEY_STRING, nullptr, "Drop to this group (default: the user's primary group)"},
        {"metrics_listen", FA_KEY_STRING, nullptr, "ADDRESS:PORT of a Prometheus endpoint serving /metrics"},
        {"shutdown_timeout", FA_KEY_INT, "0",
         "Seconds to wait at stop for the outputs to flush; then quit, logging what is lost (0: no limit)"},
        {"replay_inline", FA_KEY_BOOL, "true",
         "A savefile replay aggregates on the input's thread (less CPU; false: on pipeline threads, in parallel)"},
        {"share_aggregation", FA_KEY_BOOL, "true",
         "Pipelines that differ only in their output aggregate once and each write the rows (false: each its own)"},
        {"plugin_pipe_size", FA_KEY_INT, nullptr, "Bytes of queue per pipeline (about 64 bytes per record)"},
        {"plugin_buffer_size", FA_KEY_INT, nullptr, "Accepted for pmacct compatibility; batches are 1024 records"},
        {"plugin_pipe_zmq", FA_KEY_BOOL, "false", "Accepted for pmacct compatibility; queues are always in-process"},
        {"plugin_pipe_zmq_profile", FA_KEY_STRING, nullptr, "Accepted for pmacct compatibility"},
    };
    return keys;
}

namespace {

// Stages a pipeline gets from the keys it has, in the order they run.
struct StageRule {
    const char* module;
    std::vector<const char*> keys;
};
const std::vector<StageRule>& stage_rules() {
    static const std::vector<StageRule> rules = {
        {"networks", {"networks_file", "networks_mask"}},
        {"pretag", {"pre_tag_map", "pre_tag_filter", "pre_tag2_filter", "pre_tag_label_filter"}},
        {"ports", {"ports_file"}},
        {"classify", {"classifiers"}},
    };
    return rules;
}

} // namespace

bool is_datagram_output(const fa_output_ops& ops) {
    if (ops.struct_size < offsetof(fa_output_ops, datagrams) + sizeof ops.datagrams) return false;
    return ops.write == nullptr && ops.datagrams != nullptr;
}

namespace {

// Keys that make no sense in a pipeline without aggregation; refused when set for one.
constexpr const char* kAggregationKeys[] = {"aggregate", "aggregator", "stages", "networks_file",
                                             "ports_file", "classifiers", "pre_tag_filter", "pre_tag2_filter"};

const fa_output_ops& output_ops(const ModuleLibrary& lib) {
    return *static_cast<const fa_output_ops*>(lib.descriptor().ops);
}

} // namespace

bool is_pmacct_key(const std::string& key) {
    static const std::unordered_set<std::string> keys = {
#include "pmacct_keys.inc"
    };
    return keys.count(key) != 0;
}

// ---- batches and queues -------------------------------------------------

BatchBuf* BatchPool::acquire() {
    {
        std::lock_guard<std::mutex> g(mu_);
        if (!free_.empty()) {
            BatchBuf* b = free_.back();
            free_.pop_back();
            b->batch.count = 0;
            b->batch.payload_used = 0;
            return b;
        }
    }
    auto owned = std::make_unique<BatchBuf>();
    owned->records.resize(kBatchRecords);
    owned->payload.resize(static_cast<std::size_t>(payload_per_record_) * kBatchRecords);
    owned->batch.records = owned->records.data();
    owned->batch.capacity = kBatchRecords;
    owned->batch.payload = owned->payload.empty() ? nullptr : owned->payload.data();
    owned->batch.payload_capacity = static_cast<std::uint32_t>(owned->payload.size());
    BatchBuf* b = owned.get();
    std::lock_guard<std::mutex> g(mu_);
    all_.push_back(std::move(owned));
    return b;
}

void BatchPool::release(BatchBuf* b) {
    std::lock_guard<std::mutex> g(mu_);
    free_.push_back(b);
}

SharedBatch BatchPool::share(BatchBuf* b) {
    return SharedBatch(b, [this](const BatchBuf* p) { release(const_cast<BatchBuf*>(p)); });
}

// ---- instances ----------------------------------------------------------

InstanceCtx::~InstanceCtx() {
    if (object && library) library->descriptor().destroy(object);
}

void InstanceCtx::create() {
    fa_error err{};
    const auto& d = library->descriptor();
    if (d.create(&api, &object, &err) != FA_OK) {
        object = nullptr;
        std::string where;
        if (err.key[0]) {
            const Setting* s = host->model().find(err.key, instance);
            where = s ? s->origin.where() + ": " : std::string();
            throw ConfigError(where + "[" + owner + "] key '" + err.key + "': " + err.message);
        }
        throw ConfigError("[" + owner + "] " + (err.message[0] ? err.message : "create failed"));
    }
}

std::unique_ptr<InstanceCtx> Host::make_ctx(const std::string& instance, std::shared_ptr<ModuleLibrary> lib) {
    auto c = std::make_unique<InstanceCtx>();
    c->host = this;
    c->instance = instance;
    c->owner = instance + "/" + lib->descriptor().name;
    c->library = std::move(lib);
    fa_host_api& a = c->api;
    a.struct_size = sizeof a;
    a.abi_major = FA_ABI_MAJOR;
    a.abi_minor = FA_ABI_MINOR;
    a.ctx = c.get();
    a.instance_name = c->instance.c_str();
    a.log = [](void* ctx, fa_log_level level, const char* m) {
        auto* self = static_cast<InstanceCtx*>(ctx);
        Log::instance().write(level, self->owner, m ? m : "");
    };
    a.config_get = [](void* ctx, const char* key) -> const char* {
        auto* self = static_cast<InstanceCtx*>(ctx);
        return self->host->config_value(*self, key);
    };
    a.counter = [](void* ctx, const char* name, const char* labels) -> std::uint64_t* {
        auto* self = static_cast<InstanceCtx*>(ctx);
        return self->host->counters().slot(self->owner, name ? name : "", labels ? labels : "");
    };
    a.intern = [](void* ctx, const char* s, size_t n) -> std::uint32_t {
        return static_cast<InstanceCtx*>(ctx)->host->names().intern(std::string_view(s, n));
    };
    a.name_of = [](void* ctx, std::uint32_t id) -> const char* {
        return static_cast<InstanceCtx*>(ctx)->host->names().name_of(id);
    };
    a.monotonic_us = [](void*) -> std::uint64_t { return mono_us(); };
    a.wall_us = [](void*) -> std::uint64_t { return wall_us(); };
    a.stats_json = [](void* ctx) -> const char* {
        thread_local std::string buf;
        buf = static_cast<InstanceCtx*>(ctx)->host->stats_json();
        return buf.c_str();
    };
    a.stop_requested = [](void* ctx) -> int {
        auto* self = static_cast<InstanceCtx*>(ctx);
        return self->input && self->input->stop.load() ? 1 : 0;
    };
    return c;
}

const char* Host::config_value(const InstanceCtx& c, const char* key) const {
    if (!key) return nullptr;
    std::string k(key);
    if (auto it = c.extra.find(k); it != c.extra.end()) return it->second.c_str();
    if (const Setting* s = model_.find(k, c.instance)) return s->value.c_str();
    return c.library->default_of(k);
}

// ---- host ---------------------------------------------------------------

Host::Host(ConfigModel model, HostOptions options) : model_(std::move(model)), options_(std::move(options)) {}

Host::~Host() {
    if (started_) stop();
}

std::vector<Declaration> Host::input_declarations() const {
    auto decls = model_.inputs();
    if (!decls.empty()) return decls;
    std::string module = "pcap";
    const std::string& prog = options_.program_name;
    if (prog == "nfacctd") module = "netflow";
    else if (prog == "sfacctd") module = "sflow";
    else if (prog != "pmacctd") {
        for (const auto& [key, per] : model_.all()) {
            if (key.rfind("nfacctd_", 0) == 0) module = "netflow";
            if (key.rfind("sfacctd_", 0) == 0) module = "sflow";
        }
    }
    return {Declaration{module, module, Origin{"<default input>", 0}}};
}

void Host::validate_keys() {
    // The modules in use usually declare every key the configuration has; the whole module
    // directory (loading each, with its libraries: a third of a small run's start-up) is read only
    // for a key they don't know: it may belong to a module no pipeline uses, or be misspelt.
    std::set<std::string> known;
    for (const auto& k : host_keys()) known.insert(k.name);
    for (const auto& k : catalog_->loaded_keys()) known.insert(k);
    for (const auto& [key, per] : model_.all())
        if (!known.count(key)) {
            for (const auto& k : catalog_->all_keys()) known.insert(k);
            break;
        }
    std::vector<std::string> known_list(known.begin(), known.end());
    std::set<std::string> instances;
    for (const auto& d : plugin_decls_) instances.insert(d.instance);
    for (const auto& d : input_decls_) instances.insert(d.instance);

    for (const auto& [key, per] : model_.all()) {
        for (const auto& [instance, setting] : per) {
            if (!known.count(key)) {
                if (is_pmacct_key(key))
                    throw ConfigError(setting.origin.where() + ": key '" + key +
                                      "' is a pmacct key that flowacct does not support yet");
                std::string msg = setting.origin.where() + ": unknown key '" + key + "'";
                if (auto near = nearest_key(key, known_list)) msg += " (did you mean '" + *near + "'?)";
                throw ConfigError(msg);
            }
            if (!instance.empty() && !instances.count(instance)) {
                std::string names;
                for (const auto& n : instances) names += (names.empty() ? "" : ", ") + n;
                throw ConfigError(setting.origin.where() + ": key '" + key + "[" + instance +
                                  "]' names no pipeline or input (declared: " + names + ")");
            }
        }
    }
}

std::vector<std::string> Host::stages_for(const std::string& pipeline) const {
    std::vector<std::string> out;
    for (const auto& rule : stage_rules())
        for (const char* key : rule.keys)
            if (model_.find(key, pipeline)) {
                out.push_back(rule.module);
                break;
            }
    if (const Setting* s = model_.find("stages", pipeline))
        for (const auto& m : split_list(s->value))
            if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
    return out;
}

std::string Host::aggregator_for(const Declaration& d) {
    if (const Setting* s = model_.find("aggregator", d.instance)) return s->value;
    const auto* ops = static_cast<const fa_output_ops*>(catalog_->load(d.module, FA_KIND_OUTPUT)->descriptor().ops);
    if (ops->struct_size >= offsetof(fa_output_ops, default_aggregator) + sizeof(const char*) && ops->default_aggregator)
        return ops->default_aggregator;
    return "hash";
}

void Host::load() {
    std::string dir = options_.module_dir;
    if (dir.empty())
        if (const Setting* s = model_.find_global("module_path")) dir = s->value;
    catalog_ = std::make_unique<ModuleCatalog>(dir.empty() ? default_module_dir() : std::filesystem::path(dir));

    plugin_decls_ = model_.plugins();
    if (plugin_decls_.empty())
        plugin_decls_.push_back(Declaration{"memory", "default_memory", Origin{"<default plugin>", 0}});
    input_decls_ = input_declarations();
    for (const auto& in : input_decls_)
        for (const auto& p : plugin_decls_)
            if (in.instance == p.instance)
                throw ConfigError(in.origin.where() + ": the name '" + in.instance +
                                  "' is both an input and a pipeline; names must be unique");

    // Load what the configuration names first, so a missing module is reported by name (before
    // its keys would be reported as unknown).
    for (const auto& d : input_decls_) {
        try {
            catalog_->load(d.module, FA_KIND_INPUT);
        } catch (const LoadError& e) {
            throw ConfigError(d.origin.where() + ": input " + d.instance + ": " + e.what());
        }
    }
    for (const auto& d : plugin_decls_) {
        try {
            const auto& ops = output_ops(*catalog_->load(d.module, FA_KIND_OUTPUT));
            if (ops.struct_size >= offsetof(fa_output_ops, datagrams) + sizeof ops.datagrams && ops.write &&
                ops.datagrams)
                throw LoadError("output module " + d.module +
                                " takes both rows and datagrams, which this host does not support");
            if (is_datagram_output(ops)) {
                // Datagrams are forwarded as they are: nothing aggregates or tags records here.
                for (const char* key : kAggregationKeys) {
                    auto it = model_.all().find(key);
                    if (it == model_.all().end()) continue;
                    if (auto one = it->second.find(d.instance); one != it->second.end())
                        throw ConfigError(one->second.origin.where() + ": key '" + key + "[" + d.instance +
                                          "]': pipeline " + d.instance + " forwards datagrams (output " + d.module +
                                          ") and has no aggregation");
                }
                continue;
            }
            catalog_->load(aggregator_for(d), FA_KIND_AGGREGATOR);
            for (const auto& stage : stages_for(d.instance)) catalog_->load(stage, FA_KIND_CLASSIFIER);
        } catch (const LoadError& e) {
            throw ConfigError(d.origin.where() + ": pipeline " + d.instance + ": " + e.what());
        }
    }
    validate_keys();

    if (const Setting* s = model_.find_global("shutdown_timeout")) {
        if (!sdk::parse_duration_s(s->value, shutdown_timeout_s_))
            throw ConfigError(s->origin.where() + ": shutdown_timeout: expected a number of seconds, got '" +
                              s->value + "'");
    }
    inline_ingest_ = setting_flag(model_.find_global("replay_inline"), "replay_inline", true);
    if (const Setting* s = model_.find_global("plugin_pipe_size")) {
        long long bytes = std::atoll(s->value.c_str());
        if (bytes <= 0) throw ConfigError(s->origin.where() + ": plugin_pipe_size: expected a positive number of bytes");
        queue_batches_ = std::clamp<std::size_t>(static_cast<std::size_t>(bytes) / (64 * kBatchRecords), 4, 16384);
        // A datagram is counted as 2 KiB (a full-size NetFlow/sFlow datagram plus its share).
        queue_datagrams_ = std::clamp<std::size_t>(static_cast<std::size_t>(bytes) / 2048, 64, 1u << 20);
    }
}

std::uint64_t Host::maps_refresh_of(const std::string& pipeline) const {
    std::uint64_t secs = 0;
    if (const Setting* s = model_.find("maps_refresh", pipeline)) {
        if (s->value != "true" && s->value != "false") {
            if (!sdk::parse_duration_s(s->value, secs) || secs == 0)
                throw ConfigError(s->origin.where() + ": maps_refresh: expected true, false or a number of seconds, got '" +
                                  s->value + "'");
        }
    }
    return secs;
}

std::string Host::aggregation_signature(const Declaration& d) {
    if (!setting_flag(model_.find("share_aggregation", d.instance), "share_aggregation", true)) return {};
    // Only the hash aggregator's rows depend on nothing but the records and the keys compared here.
    if (aggregator_for(d) != "hash") return {};
    auto out = catalog_->load(d.module, FA_KIND_OUTPUT);
    std::vector<std::shared_ptr<ModuleLibrary>> makers{catalog_->load("hash", FA_KIND_AGGREGATOR)};
    std::string sig = "output=" + d.module + "\nrefresh=" + std::to_string(output_ops(*out).default_refresh_s) + "\nstages=";
    for (const auto& stage : stages_for(d.instance)) {
        makers.push_back(catalog_->load(stage, FA_KIND_CLASSIFIER));
        sig += stage + ",";
    }
    sig += "\n";
    // Every key the pipeline sees, but those only its output reads (file names, tables, servers).
    for (const auto& [key, per] : model_.all()) {
        const Setting* s = model_.find(key, d.instance);
        if (!s) continue;
        bool output_only = out->declares(key);
        for (const auto& m : makers) output_only = output_only && !m->declares(key);
        if (!output_only) sig += key + "=" + s->value + "\n";
    }
    return sig;
}

void Host::note_backpressure(bool on) {
    if (on) {
        inputs_waiting_.store(true);
        return;
    }
    bool any = false;
    for (const auto& in : inputs_) any = any || in->backpressure.load();
    inputs_waiting_.store(any);
}

void Host::create_instances() {
    bool want_payload = false;
    for (const auto& d : plugin_decls_)
        if (model_.find("classifiers", d.instance)) want_payload = true;
    pool_ = std::make_unique<BatchPool>(want_payload ? kPayloadBytesPerRecord : 0);

    std::vector<std::string> signatures;
    for (const auto& d : plugin_decls_) {
        auto p = std::make_unique<Pipeline>();
        p->name = d.instance;
        p->output_module = d.module;
        p->queue = std::make_unique<BatchQueue>(queue_batches_, kWaitBatches);
        std::string owner = "pipeline/" + d.instance;
        p->records_in = counters_.slot(owner, "records_in", "");
        p->queue_dropped = counters_.slot(owner, "queue_dropped", "");
        p->rows_out = counters_.slot(owner, "rows_out", "");
        p->write_errors = counters_.slot(owner, "write_errors", "");

        p->records_dropped_by_stages = counters_.slot(owner, "records_filtered", "");
        if (is_datagram_output(output_ops(*catalog_->load(d.module, FA_KIND_OUTPUT)))) {
            // No stages, no aggregator: the output gets the inputs' datagrams as they are.
            p->datagrams = std::make_unique<DatagramQueue>(queue_datagrams_);
            p->datagrams_in = counters_.slot(owner, "datagrams_in", "");
            p->datagrams_dropped = counters_.slot(owner, "datagrams_queue_dropped", "");
            p->maps_refresh_s = maps_refresh_of(d.instance);
            p->output = make_ctx(d.instance, catalog_->load(d.module, FA_KIND_OUTPUT));
            p->output->create();
            ++datagram_pipelines_;
            signatures.emplace_back();
            pipelines_.push_back(std::move(p));
            continue;
        }
        p->inputs_waiting = &inputs_waiting_;
        signatures.push_back(aggregation_signature(d));
        if (!signatures.back().empty()) {
            auto same = std::find(signatures.begin(), signatures.end() - 1, signatures.back());
            if (same != signatures.end() - 1) {
                // A follower: its leader's stages and aggregator make its rows; it only writes them.
                p->leader = pipelines_[static_cast<std::size_t>(same - signatures.begin())].get();
                p->leader->followers.push_back(p.get());
                p->rows = std::make_unique<RowQueue>(queue_batches_);
                p->rows_dropped = counters_.slot(owner, "rows_dropped", "");
                p->maps_refresh_s = maps_refresh_of(d.instance);
                p->output = make_ctx(d.instance, catalog_->load(d.module, FA_KIND_OUTPUT));
                p->output->create();
                log_info("pipeline " + p->name + ": same stages and aggregation as pipeline " + p->leader->name +
                         ", which aggregates for both (share_aggregation: false to aggregate apart)");
                pipelines_.push_back(std::move(p));
                continue;
            }
        }
        for (const auto& stage : stages_for(d.instance)) {
            auto ctx = make_ctx(d.instance, catalog_->load(stage, FA_KIND_CLASSIFIER));
            ctx->create();
            p->stages.push_back(std::move(ctx));
        }
        if (!p->stages.empty()) p->scratch.resize(kBatchRecords);
        p->maps_refresh_s = maps_refresh_of(d.instance);
        p->output = make_ctx(d.instance, catalog_->load(d.module, FA_KIND_OUTPUT));
        p->output->create();
        p->aggregator = make_ctx(d.instance, catalog_->load(aggregator_for(d), FA_KIND_AGGREGATOR));
        const auto* out_ops = static_cast<const fa_output_ops*>(p->output->library->descriptor().ops);
        p->aggregator->extra["__output"] = d.module;
        p->aggregator->extra["__output_refresh_s"] = std::to_string(out_ops->default_refresh_s);
        p->aggregator->create();
        pipelines_.push_back(std::move(p));
    }

    // Inputs may skip per-flow state (pmacctd's flow table) when no pipeline counts flows.
    bool flows_needed = false;
    for (const auto& d : plugin_decls_) {
        if (const Setting* s = model_.find("aggregate", d.instance))
            for (const auto& p : split_list(s->value))
                if (to_lower(p) == "flows") flows_needed = true;
    }
    std::uint32_t index = 0;
    for (const auto& d : input_decls_) {
        auto in = std::make_unique<InputRunner>();
        in->index = index++;
        in->ctx = make_ctx(d.instance, catalog_->load(d.module, FA_KIND_INPUT));
        in->ctx->input = in.get();
        in->ctx->extra["__flows_needed"] = flows_needed ? "true" : "false";
        in->records_out = counters_.slot(in->ctx->owner, "records_out", "");
        fa_host_api& a = in->ctx->api;
        a.batch_acquire = [](void* ctx) -> fa_batch* {
            return static_cast<InstanceCtx*>(ctx)->host->acquire_batch();
        };
        a.batch_submit = [](void* ctx, fa_batch* b) -> std::uint32_t {
            auto* self = static_cast<InstanceCtx*>(ctx);
            return self->host->submit_batch(*self->input, b);
        };
        a.set_backpressure = [](void* ctx, int on) {
            auto* self = static_cast<InstanceCtx*>(ctx);
            self->input->backpressure.store(on != 0);
            self->host->note_backpressure(on != 0);
        };
        a.datagrams_wanted = [](void* ctx) -> int {
            return static_cast<InstanceCtx*>(ctx)->host->datagrams_wanted() ? 1 : 0;
        };
        a.datagram_submit = [](void* ctx, const fa_datagram* d) {
            auto* self = static_cast<InstanceCtx*>(ctx);
            if (d) self->host->submit_datagram(*self->input, *d);
        };
        if (datagram_pipelines_) in->datagrams_out = counters_.slot(in->ctx->owner, "datagrams_out", "");
        in->ctx->create();
        inputs_.push_back(std::move(in));
    }
}

fa_batch* Host::acquire_batch() { return &pool_->acquire()->batch; }

std::uint32_t Host::submit_batch(InputRunner& in, fa_batch* b) {
    // fa_batch is the first member of BatchBuf.
    auto* buf = reinterpret_cast<BatchBuf*>(b);
    std::uint32_t count = b->count;
    b->input_index = in.index;
    if (count == 0) {
        pool_->release(buf);
        return 0;
    }
    SharedBatch shared = pool_->share(buf);
    __atomic_fetch_add(in.records_out, count, __ATOMIC_RELAXED);
    std::uint32_t accepted = count;
    const bool wait = in.backpressure.load(std::memory_order_relaxed);
    for (auto& p : pipelines_) {
        if (!p->aggregator) continue; // datagram-only, or a follower (its leader takes its records)
        if (wait && inline_ingest_) {
            // A waiting producer would only wait for the pipeline thread: it aggregates itself.
            std::lock_guard<std::mutex> g(p->mu);
            p->ingest_batch(shared->batch);
            continue;
        }
        bool ok = wait ? p->queue->push_wait(shared) : p->queue->try_push(shared);
        if (!ok) {
            __atomic_fetch_add(p->queue_dropped, count, __ATOMIC_RELAXED);
            for (Pipeline* f : p->followers) __atomic_fetch_add(f->queue_dropped, count, __ATOMIC_RELAXED);
            accepted = 0;
            static RateLimit limit;
            std::uint64_t held = 0;
            if (limit.allow(held))
                Log::instance().write(FA_LOG_WARN, "pipeline/" + p->name,
                                      "dropped " + std::to_string(count) + " records: queue full (" +
                                          std::to_string(p->queue->capacity()) + " batches)" +
                                          (held ? ", " + std::to_string(held) + " similar lines suppressed" : ""));
        }
    }
    return accepted;
}

void Host::submit_datagram(InputRunner& in, const fa_datagram& d) {
    if (!datagram_pipelines_ || !d.data || d.length == 0) return;
    auto buf = std::make_shared<DatagramBuf>();
    buf->bytes.assign(d.data, d.data + d.length);
    buf->d = d;
    buf->d.data = buf->bytes.data();
    buf->d.input_index = in.index;
    buf->d.tag = buf->d.tag2 = 0;
    SharedDatagram shared = std::move(buf);
    if (in.datagrams_out) __atomic_fetch_add(in.datagrams_out, 1, __ATOMIC_RELAXED);
    const bool wait = in.backpressure.load(std::memory_order_relaxed);
    for (auto& p : pipelines_) {
        if (!p->datagrams) continue;
        if (wait ? p->datagrams->push_wait(shared) : p->datagrams->try_push(shared)) continue;
        __atomic_fetch_add(p->datagrams_dropped, 1, __ATOMIC_RELAXED);
        static RateLimit limit;
        std::uint64_t held = 0;
        if (limit.allow(held))
            Log::instance().write(FA_LOG_WARN, "pipeline/" + p->name,
                                  "dropped a datagram: queue full (" + std::to_string(p->datagrams->capacity()) +
                                      " datagrams)" +
                                      (held ? ", " + std::to_string(held) + " similar lines suppressed" : ""));
    }
}

template <class T, class Write>
void Pipeline::write_until_closed(BoundedQueue<T>& queue, std::size_t max_burst, Write&& write) {
    const auto& out_ops = *static_cast<const fa_output_ops*>(output->library->descriptor().ops);
    std::vector<T> held;
    held.reserve(max_burst);
    auto next_tick = std::chrono::steady_clock::now() + std::chrono::microseconds(kTickUs);
    auto next_reload = std::chrono::steady_clock::now() + std::chrono::seconds(maps_refresh_s);
    for (;;) {
        held.clear();
        if (queue.pop_many_until(held, max_burst, next_tick) > 0) write(out_ops, held);
        held.clear(); // what was written goes back before a possibly long wait
        auto now = std::chrono::steady_clock::now();
        if (reload_requested.exchange(false) || (maps_refresh_s > 0 && now >= next_reload)) {
            reload_stages();
            next_reload = now + std::chrono::seconds(maps_refresh_s);
        }
        if (now >= next_tick) {
            if (out_ops.tick) out_ops.tick(output->object, mono_us());
            next_tick = now + std::chrono::microseconds(kTickUs);
        }
        if (queue.closed_and_empty()) break;
    }
    if (out_ops.flush && out_ops.flush(output->object) != FA_OK)
        __atomic_fetch_add(write_errors, 1, __ATOMIC_RELAXED);
}

void Pipeline::run_datagrams() {
    std::vector<const fa_datagram*> ptrs;
    write_until_closed(*datagrams, 256, [&](const fa_output_ops& out_ops, const std::vector<SharedDatagram>& held) {
        ptrs.clear();
        for (const auto& h : held) ptrs.push_back(&h->d);
        __atomic_fetch_add(datagrams_in, held.size(), __ATOMIC_RELAXED);
        if (out_ops.datagrams(output->object, ptrs.data(), static_cast<std::uint32_t>(ptrs.size())) != FA_OK)
            __atomic_fetch_add(write_errors, 1, __ATOMIC_RELAXED);
    });
}

void Pipeline::hand_to_followers(const fa_row_batch& batch) {
    if (followers.empty() || batch.count == 0) return;
    auto chunk = std::make_shared<RowChunk>();
    chunk->rows.assign(batch.rows, batch.rows + batch.count);
    chunk->batch = batch;
    chunk->batch.rows = chunk->rows.data();
    SharedRows shared = std::move(chunk);
    // As with batches, wait for room when the inputs wait (a savefile loses nothing) and at the last
    // purge, but not for good: a follower that makes no room in kFollowerWait is stalled, and it
    // drops (counted) until it takes rows again, holding back neither this pipeline nor the inputs.
    constexpr auto kFollowerWait = std::chrono::seconds(5);
    const bool wait = final_purge || inputs_waiting->load(std::memory_order_relaxed);
    for (Pipeline* f : followers) {
        const bool ok = wait && !f->stalled
                            ? f->rows->push_wait_until(shared, std::chrono::steady_clock::now() + kFollowerWait)
                            : f->rows->try_push(shared);
        f->stalled = !ok && (wait || f->stalled);
        if (ok) continue;
        __atomic_fetch_add(f->rows_dropped, batch.count, __ATOMIC_RELAXED);
        static RateLimit limit;
        std::uint64_t held = 0;
        if (limit.allow(held))
            Log::instance().write(FA_LOG_WARN, "pipeline/" + f->name,
                                  "dropped " + std::to_string(batch.count) + " rows: queue full (" +
                                      std::to_string(f->rows->capacity()) + " chunks)" +
                                      (held ? ", " + std::to_string(held) + " similar lines suppressed" : ""));
    }
}

void Pipeline::run_follower() {
    write_until_closed(*rows, 64, [&](const fa_output_ops& out_ops, const std::vector<SharedRows>& held) {
        for (const auto& chunk : held) {
            if (out_ops.write(output->object, &chunk->batch) != FA_OK)
                __atomic_fetch_add(write_errors, 1, __ATOMIC_RELAXED);
            else
                __atomic_fetch_add(rows_out, chunk->batch.count, __ATOMIC_RELAXED);
        }
    });
}

void Pipeline::prepare() {
    if (!aggregator) return;
    sink = fa_row_sink{this, [](void* c, const fa_row_batch* rows) -> fa_status {
                           auto* p = static_cast<Pipeline*>(c);
                           // Followers first: this pipeline's own output blocking must not starve them.
                           p->hand_to_followers(*rows);
                           const auto& ops = *static_cast<const fa_output_ops*>(p->output->library->descriptor().ops);
                           fa_status st = ops.write(p->output->object, rows);
                           if (st != FA_OK) __atomic_fetch_add(p->write_errors, 1, __ATOMIC_RELAXED);
                           else __atomic_fetch_add(p->rows_out, rows->count, __ATOMIC_RELAXED);
                           return st;
                       }};
}

void Pipeline::ingest_batch(const fa_batch& b) {
    const auto& agg_ops = *static_cast<const fa_aggregator_ops*>(aggregator->library->descriptor().ops);
    const fa_record* records = b.records;
    std::uint32_t count = b.count;
    __atomic_fetch_add(records_in, count, __ATOMIC_RELAXED);
    for (Pipeline* f : followers) __atomic_fetch_add(f->records_in, count, __ATOMIC_RELAXED);
    if (!stages.empty()) {
        // Stages change records: they work on this pipeline's own copy of the batch.
        std::memcpy(scratch.data(), records, count * sizeof(fa_record));
        for (auto& st : stages) {
            const auto* ops = static_cast<const fa_classifier_ops*>(st->library->descriptor().ops);
            ops->process(st->object, scratch.data(), count, b.payload);
        }
        std::uint32_t kept = 0;
        for (std::uint32_t i = 0; i < count; ++i)
            if (!(scratch[i].flags & FA_REC_DROP)) {
                if (kept != i) scratch[kept] = scratch[i];
                ++kept;
            }
        if (kept != count) {
            __atomic_fetch_add(records_dropped_by_stages, count - kept, __ATOMIC_RELAXED);
            for (Pipeline* f : followers)
                __atomic_fetch_add(f->records_dropped_by_stages, count - kept, __ATOMIC_RELAXED);
        }
        records = scratch.data();
        count = kept;
    }
    if (count > 0 && agg_ops.ingest(aggregator->object, records, count))
        agg_ops.purge(aggregator->object, mono_us(), 1, &sink);
}

void Pipeline::run() {
    if (leader) {
        run_follower();
        return;
    }
    if (!aggregator) {
        run_datagrams();
        return;
    }
    const auto& agg_ops = *static_cast<const fa_aggregator_ops*>(aggregator->library->descriptor().ops);
    const auto& out_ops = *static_cast<const fa_output_ops*>(output->library->descriptor().ops);
    auto next_tick = std::chrono::steady_clock::now() + std::chrono::microseconds(kTickUs);
    auto next_reload = std::chrono::steady_clock::now() + std::chrono::seconds(maps_refresh_s);
    for (;;) {
        SharedBatch b;
        if (queue->pop_until(b, next_tick)) {
            std::lock_guard<std::mutex> g(mu);
            ingest_batch(b->batch);
            b.reset();
        }
        auto now = std::chrono::steady_clock::now();
        if (reload_requested.exchange(false) || (maps_refresh_s > 0 && now >= next_reload)) {
            std::lock_guard<std::mutex> g(mu);
            reload_stages();
            next_reload = now + std::chrono::seconds(maps_refresh_s);
        }
        if (now >= next_tick) {
            std::lock_guard<std::mutex> g(mu);
            std::uint64_t now_us = mono_us();
            agg_ops.purge(aggregator->object, now_us, 0, &sink);
            if (out_ops.tick) out_ops.tick(output->object, now_us);
            next_tick = now + std::chrono::microseconds(kTickUs);
        }
        if (queue->closed_and_empty()) break;
    }
    std::lock_guard<std::mutex> g(mu);
    final_purge = true;
    agg_ops.purge(aggregator->object, mono_us(), 1, &sink);
    for (Pipeline* f : followers) f->rows->close();
    if (out_ops.flush && out_ops.flush(output->object) != FA_OK)
        __atomic_fetch_add(write_errors, 1, __ATOMIC_RELAXED);
}

void Pipeline::reload_stages() {
    for (auto& st : stages) {
        const auto* ops = static_cast<const fa_classifier_ops*>(st->library->descriptor().ops);
        if (ops->reload && ops->reload(st->object) != FA_OK)
            Log::instance().write(FA_LOG_WARN, st->owner, "map reload failed; the previous maps stay in force");
    }
    const auto& out = *static_cast<const fa_output_ops*>(output->library->descriptor().ops);
    if (out.struct_size >= offsetof(fa_output_ops, reload) + sizeof out.reload && out.reload &&
        out.reload(output->object) != FA_OK)
        Log::instance().write(FA_LOG_WARN, output->owner, "map reload failed; the previous maps stay in force");
}

void Host::start() {
    started_ = true;
    for (auto& p : pipelines_) p->prepare();
    for (auto& p : pipelines_) {
        Pipeline* raw = p.get();
        p->thread = std::thread([raw] {
            raw->run();
            raw->finished.store(true);
        });
    }
    for (auto& in : inputs_) {
        InputRunner* raw = in.get();
        in->thread = std::thread([raw] {
            const auto& ops = *static_cast<const fa_input_ops*>(raw->ctx->library->descriptor().ops);
            raw->result = ops.run(raw->ctx->object);
            if (raw->result == FA_ERROR)
                Log::instance().write(FA_LOG_ERROR, raw->ctx->owner, "input stopped on an error");
            else if (raw->result == FA_EOF)
                Log::instance().write(FA_LOG_INFO, raw->ctx->owner, "input ended");
            raw->finished.store(true);
        });
    }
}

bool Host::inputs_done() const {
    for (const auto& in : inputs_)
        if (!in->finished.load()) return false;
    return true;
}

bool Host::stop() {
    begin_stop(); // does nothing when already begun
    return finish_stop();
}

void Host::begin_stop() {
    if (stopped_) return;
    stopped_ = true;
    if (!started_) {
        stop_done_.store(true);
        return;
    }
    stopper_ = std::thread([this] {
        bool ok = true;
        for (auto& in : inputs_) {
            in->stop.store(true);
            const auto& ops = *static_cast<const fa_input_ops*>(in->ctx->library->descriptor().ops);
            if (ops.request_stop) ops.request_stop(in->ctx->object);
        }
        for (auto& in : inputs_) {
            if (in->thread.joinable()) in->thread.join();
            if (in->result == FA_ERROR) ok = false;
        }
        for (auto& p : pipelines_) {
            p->queue->close();
            if (p->datagrams) p->datagrams->close();
        }
        for (auto& p : pipelines_) {
            if (p->thread.joinable()) p->thread.join();
            if (__atomic_load_n(p->write_errors, __ATOMIC_RELAXED) > 0) ok = false;
        }
        stop_ok_ = ok;
        stop_done_.store(true);
    });
}

std::vector<std::string> Host::still_stopping() const {
    std::vector<std::string> out;
    if (!started_) return out;
    for (const auto& in : inputs_)
        if (!in->finished.load()) out.push_back("input " + in->ctx->instance + " (" + in->ctx->library->descriptor().name + ")");
    for (const auto& p : pipelines_) {
        if (p->finished.load()) continue;
        std::string line = "pipeline " + p->name + " (output " + p->output_module + "): ";
        if (p->datagrams)
            line += std::to_string(p->datagrams->size()) + " datagrams queued";
        else if (p->leader)
            line += std::to_string(p->rows->size()) + " row chunks queued from pipeline " + p->leader->name;
        else
            line += std::to_string(p->queue->size()) + " batches queued, its aggregation cache not fully written";
        out.push_back(std::move(line));
    }
    return out;
}

bool Host::finish_stop() {
    if (stopper_.joinable()) stopper_.join();
    if (!started_ || finished_stop_) return stop_ok_;
    finished_stop_ = true;
    log_counters();
    // Inputs first (they may hold batches), then aggregators before their outputs.
    inputs_.clear();
    for (auto& p : pipelines_) {
        p->stages.clear();
        p->aggregator.reset();
        p->output.reset();
    }
    return stop_ok_;
}

void Host::reload_maps() {
    // Stages reload on their own pipeline thread, between batches.
    for (auto& p : pipelines_) p->reload_requested.store(true);
    for (auto& in : inputs_) {
        const auto& ops = *static_cast<const fa_input_ops*>(in->ctx->library->descriptor().ops);
        if (ops.reload && ops.reload(in->ctx->object) != FA_OK)
            Log::instance().write(FA_LOG_WARN, in->ctx->owner, "map reload failed; the previous maps stay in force");
    }
}

void Host::log_counters() {
    for (const auto& line : counters_.to_lines()) log_info("counter " + line);
    for (const auto& p : pipelines_) {
        if (p->datagrams)
            log_info("pipeline " + p->name + ": queue " + std::to_string(p->datagrams->size()) + "/" +
                     std::to_string(p->datagrams->capacity()) + " datagrams");
        else if (p->leader)
            log_info("pipeline " + p->name + ": rows from pipeline " + p->leader->name + ", queue " +
                     std::to_string(p->rows->size()) + "/" + std::to_string(p->rows->capacity()) + " chunks");
        else
            log_info("pipeline " + p->name + ": queue " + std::to_string(p->queue->size()) + "/" +
                     std::to_string(p->queue->capacity()) + " batches");
    }
}

std::string Host::stats_json() {
    std::string out = counters_.to_json();
    out.pop_back(); // '}'
    out += ",\"pipelines\":[";
    for (std::size_t i = 0; i < pipelines_.size(); ++i) {
        const auto& p = pipelines_[i];
        if (i) out += ",";
        out += "{\"name\":\"" + json_escape(p->name) + "\",\"output\":\"" + json_escape(p->output_module) +
               "\",\"queue_batches\":" + std::to_string(p->queue->size()) +
               ",\"queue_capacity\":" + std::to_string(p->queue->capacity()) +
               ",\"queue_dropped\":" + std::to_string(__atomic_load_n(p->queue_dropped, __ATOMIC_RELAXED)) +
               ",\"records_in\":" + std::to_string(__atomic_load_n(p->records_in, __ATOMIC_RELAXED));
        if (p->leader)
            out += ",\"aggregated_by\":\"" + json_escape(p->leader->name) + "\",\"row_chunks\":" +
                   std::to_string(p->rows->size()) +
                   ",\"rows_dropped\":" + std::to_string(__atomic_load_n(p->rows_dropped, __ATOMIC_RELAXED));
        if (p->datagrams)
            out += ",\"datagrams_in\":" + std::to_string(__atomic_load_n(p->datagrams_in, __ATOMIC_RELAXED)) +
                   ",\"datagrams_queue_dropped\":" +
                   std::to_string(__atomic_load_n(p->datagrams_dropped, __ATOMIC_RELAXED));
        out += "}";
    }
    return out + "]}";
}

} // namespace flowacct::host
