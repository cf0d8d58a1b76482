// SPDX-License-Identifier: GPL-2.0-or-later
// flowacct-bench-netflow-udp: input_netflow.so end to end over 127.0.0.1. A sender thread
// blasts a v5/v9/IPFIX workload at the module's socket; a minimal host counts the records the
// module submits, and the kernel's drops (sock_drops). Prints records/s received and loss.
#include <arpa/inet.h>  // inet_pton, htons
#include <dlfcn.h>      // dlopen, dlsym
#include <netinet/in.h> // sockaddr_in
#include <sys/socket.h> // socket, sendto
#include <unistd.h>     // close

#include <atomic>       // std::atomic
#include <chrono>       // std::chrono
#include <cstdio>       // std::printf
#include <cstdlib>      // std::atoi
#include <cstring>      // std::strstr
#include <map>          // std::map
#include <mutex>        // std::mutex
#include <string>       // std::string
#include <thread>       // std::thread
#include <vector>       // std::vector

#include <flowacct/abi.h>       // fa_host_api, fa_module_descriptor
#include "netflow_workload.hpp" // make_workload

namespace {

// Just enough host: one reusable batch, counters in a map, config from a map.
struct MiniHost {
    fa_host_api api{};
    std::map<std::string, std::string> config;
    std::map<std::string, std::uint64_t> counters;
    std::vector<fa_record> records = std::vector<fa_record>(1024);
    std::vector<std::uint8_t> payload = std::vector<std::uint8_t>(1024 * 512);
    fa_batch batch{};
    std::atomic<std::uint64_t> received{0};
    std::atomic<bool> stop{false};
    std::uint16_t port = 0;
    std::mutex mu;

    MiniHost() {
        api.struct_size = sizeof api;
        api.abi_major = FA_ABI_MAJOR;
        api.abi_minor = FA_ABI_MINOR;
        api.ctx = this;
        api.instance_name = "bench";
        api.log = [](void* c, fa_log_level, const char* m) {
            auto* h = static_cast<MiniHost*>(c);
            if (const char* p = std::strstr(m, " port ")) h->port = static_cast<std::uint16_t>(std::atoi(p + 6));
            std::fprintf(stderr, "module: %s\n", m);
        };
        api.config_get = [](void* c, const char* k) -> const char* {
            auto* h = static_cast<MiniHost*>(c);
            auto it = h->config.find(k);
            return it == h->config.end() ? nullptr : it->second.c_str();
        };
        api.counter = [](void* c, const char* name, const char* labels) -> std::uint64_t* {
            auto* h = static_cast<MiniHost*>(c);
            std::lock_guard<std::mutex> g(h->mu);
            return &h->counters[std::string(name) + (labels ? std::string("{") + labels + "}" : "")];
        };
        api.intern = [](void*, const char*, size_t) -> std::uint32_t { return 1; };
        api.name_of = [](void*, std::uint32_t) -> const char* { return ""; };
        api.monotonic_us = [](void*) -> std::uint64_t {
            return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::steady_clock::now().time_since_epoch()).count());
        };
        api.wall_us = [](void*) -> std::uint64_t {
            return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::system_clock::now().time_since_epoch()).count());
        };
        api.batch_acquire = [](void* c) -> fa_batch* {
            auto* h = static_cast<MiniHost*>(c);
            h->batch = {};
            h->batch.records = h->records.data();
            h->batch.capacity = static_cast<std::uint32_t>(h->records.size());
            h->batch.payload = h->payload.data();
            h->batch.payload_capacity = static_cast<std::uint32_t>(h->payload.size());
            return &h->batch;
        };
        api.batch_submit = [](void* c, fa_batch* b) -> std::uint32_t {
            static_cast<MiniHost*>(c)->received.fetch_add(b->count, std::memory_order_relaxed);
            return b->count;
        };
        api.set_backpressure = [](void*, int) {};
        api.stop_requested = [](void* c) -> int { return static_cast<MiniHost*>(c)->stop.load() ? 1 : 0; };
        api.stats_json = [](void*) -> const char* { return "{}"; };
    }
};

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: flowacct-bench-netflow-udp <path/to/input_netflow.so> [version] [datagrams] [threads]\n");
        return 2;
    }
    const int version = argc > 2 ? std::atoi(argv[2]) : 5;
    const long datagrams = argc > 3 ? std::atol(argv[3]) : 200000;
    const char* threads = argc > 4 ? argv[4] : "1";
    void* so = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    auto entry = so ? reinterpret_cast<fa_module_entry>(dlsym(so, FA_MODULE_SYMBOL)) : nullptr;
    if (!entry) return std::fprintf(stderr, "cannot load %s\n", argv[1]), 1;
    const fa_module_descriptor* d = entry();
    const auto* ops = static_cast<const fa_input_ops*>(d->ops);

    MiniHost host;
    host.config = {{"nfacctd_ip", "127.0.0.1"}, {"nfacctd_port", "0"}, {"nfacctd_pipe_size", "33554432"},
                   {"nfacctd_threads", threads}};
    void* inst = nullptr;
    fa_error err{};
    if (d->create(&host.api, &inst, &err) != FA_OK) return std::fprintf(stderr, "create: %s %s\n", err.key, err.message), 1;

    flowacct::gen::WorkloadOptions o;
    o.version = version;
    o.per_datagram = version == 5 ? 30 : 40;
    o.records = 20000 * std::uint64_t{o.per_datagram};
    o.keys = 5000;
    flowacct::gen::WorkloadTotals t;
    const auto dgrams = flowacct::gen::make_workload(o, t);

    std::thread runner([&] { ops->run(inst); });
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(host.port);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    std::uint64_t sent_records = 0;
    const auto t0 = std::chrono::steady_clock::now();
    // The first datagram carries the template: send it, and repeat the rest.
    for (long i = 0; i < datagrams; ++i) {
        const auto& dg = dgrams[i == 0 ? 0 : 1 + (i - 1) % static_cast<long>(dgrams.size() - 1)];
        if (sendto(fd, dg.data(), dg.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) > 0) sent_records += o.per_datagram;
    }
    const auto t1 = std::chrono::steady_clock::now();
    // Let the receiver drain, then stop it.
    std::uint64_t last = ~0ull;
    while (host.received.load() != last) {
        last = host.received.load();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ops->request_stop(inst);
    runner.join();
    const double secs = std::chrono::duration<double>(t1 - t0).count();
    std::uint64_t drops = 0;
    {
        std::lock_guard<std::mutex> g(host.mu);
        drops = host.counters["sock_drops"];
    }
    std::printf("version %d, %s thread(s): sent %llu records in %.2f s (%.2f M records/s offered); received %llu "
                "(%.1f%%), sock_drops %llu datagrams\n",
                version, threads, static_cast<unsigned long long>(sent_records), secs, sent_records / secs / 1e6,
                static_cast<unsigned long long>(host.received.load()), 100.0 * host.received.load() / sent_records,
                static_cast<unsigned long long>(drops));
    d->destroy(inst);
    close(fd);
    return 0;
}
