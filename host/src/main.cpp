// SPDX-License-Identifier: GPL-2.0-or-later
// flowacctd: command line, configuration, daemonizing, signals and the host's lifecycle.
#include <fcntl.h>      // open
#include <grp.h>        // getgrnam, setgroups
#include <pwd.h>        // getpwnam
#include <sys/prctl.h>  // prctl
#include <signal.h>     // sigset_t, sigtimedwait
#include <sys/stat.h>   // umask
#include <unistd.h>     // fork, setsid, pipe

#include <chrono>       // std::chrono::steady_clock
#include <cstdio>       // std::printf
#include <cstdlib>      // std::_Exit
#include <cstring>      // std::strcmp
#include <filesystem>   // std::filesystem::path
#include <fstream>      // std::ofstream
#include <iostream>     // std::cerr
#include <string>       // std::string
#include <vector>       // std::vector

#include "config.hpp"        // ConfigModel, load_file
#include "log.hpp"           // Log
#include "metrics.hpp"       // MetricsServer
#include "module_loader.hpp" // ModuleCatalog
#include "runtime.hpp"       // Host

using namespace flowacct::host;

namespace {

constexpr const char* kVersion = "0.1.0";

void usage(const char* prog) {
    std::printf(
        "Usage: %s [options] [pcap filter]\n"
        "flowacct collector daemon (pmacct-compatible configuration)\n\n"
        "  -f FILE          configuration file (pmacct syntax, or YAML if it ends in .yaml/.yml)\n"
        "  -P PLUGINS       plugins, e.g. 'memory[a], print[b]' (key plugins)\n"
        "  -c PRIMITIVES    aggregate (key aggregate)\n"
        "  -i IFACE         pcap_interface          -I FILE  pcap_savefile\n"
        "  -l PORT          nfacctd_port / sfacctd_port   -L IP  nfacctd_ip / sfacctd_ip\n"
        "  -n FILE          networks_file           -r SECS  sql_refresh_time, print_refresh_time\n"
        "  -O FORMAT        print_output            -o FILE  print_output_file\n"
        "  -p PATH          imt_path                -W       pcap_savefile_wait\n"
        "  -Z SECS          pcap_savefile_delay     -Y N     pcap_savefile_replay\n"
        "  -R               nfacctd_renormalize / sfacctd_renormalize\n"
        "  -N               promisc: false          -D       daemonize\n"
        "  -F FILE          pidfile                 -S FAC   syslog facility\n"
        "  -d               debug                   -a       list aggregation primitives\n"
        "  --module-path DIR  modules directory (key module_path)\n"
        "  --list-modules   list the modules found and exit\n"
        "  --print-config   print the normalized configuration as YAML and exit\n"
        "  --dry-run        validate configuration, modules and maps, then exit\n"
        "  -V, --version    version            -h, --help  this help\n"
        "Signals: SIGTERM/SIGINT stop and flush, SIGHUP reopens logs, SIGUSR1 logs counters, SIGUSR2 reloads maps.\n",
        prog);
}

struct Cli {
    std::string config_file;
    std::vector<std::pair<std::string, std::string>> overrides; // key, value
    std::string module_dir;
    bool list_modules = false, print_config = false, dry_run = false, list_primitives = false;
};

// The input the daemon name or the keys choose, for -l/-L/-R which depend on it.
std::string daemon_prefix(const std::string& prog, const ConfigModel& m) {
    if (prog == "sfacctd") return "sfacctd";
    if (prog == "nfacctd") return "nfacctd";
    if (const Setting* s = m.find_global("inputs"); s && s->value.find("sflow") != std::string::npos) return "sfacctd";
    for (const auto& [key, per] : m.all())
        if (key.rfind("sfacctd_", 0) == 0) return "sfacctd";
    return "nfacctd";
}

int fail(const std::string& message) {
    std::cerr << "flowacctd: " << message << "\n";
    return 1;
}

// Drops to `user`/`group` for good: supplementary groups, then gid, then uid, then no new privileges.
void drop_privileges(const std::string& user, const std::string& group) {
    if (user.empty() && group.empty()) return;
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (!user.empty()) {
        const passwd* pw = getpwnam(user.c_str());
        if (!pw) throw ConfigError("user: no such user '" + user + "'");
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }
    if (!group.empty()) {
        const ::group* gr = getgrnam(group.c_str());
        if (!gr) throw ConfigError("group: no such group '" + group + "'");
        gid = gr->gr_gid;
    }
    if (geteuid() != 0 && (uid != geteuid() || gid != getegid()))
        throw ConfigError("user/group: only root can change to " + user + ":" + group);
    if (geteuid() == 0 && setgroups(1, &gid) != 0) throw ConfigError("cannot set supplementary groups");
    if (setresgid(gid, gid, gid) != 0) throw ConfigError("cannot change group");
    if (setresuid(uid, uid, uid) != 0) throw ConfigError("cannot change user");
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    log_info("running as uid " + std::to_string(uid) + " gid " + std::to_string(gid));
}

void write_pidfile(const std::string& path) {
    if (path.empty()) return;
    mode_t old = umask(077);
    std::ofstream out(path, std::ios::trunc);
    umask(old);
    if (!out) throw ConfigError(path + ": cannot write the pidfile");
    out << getpid() << "\n";
}

} // namespace

int main(int argc, char** argv) {
    std::string prog = std::filesystem::path(argv[0]).filename().string();
    // Every thread inherits this mask; the main thread takes the signals with sigtimedwait.
    sigset_t signals;
    sigemptyset(&signals);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2}) sigaddset(&signals, s);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    signal(SIGPIPE, SIG_IGN);

    Cli cli;
    std::vector<std::string> filter_words;
    std::vector<std::string> args(argv + 1, argv + argc);
    auto need = [&](std::size_t& i, const std::string& flag) -> std::string {
        if (i + 1 >= args.size()) throw ConfigError("option " + flag + " needs a value");
        return args[++i];
    };
    try {
        for (std::size_t i = 0; i < args.size(); ++i) {
            const std::string& a = args[i];
            if (a == "-h" || a == "--help") {
                usage(prog.c_str());
                return 0;
            } else if (a == "-V" || a == "--version") {
                std::printf("flowacctd %s (module ABI %d.%d)\n", kVersion, FA_ABI_MAJOR, FA_ABI_MINOR);
                return 0;
            } else if (a == "-f") cli.config_file = need(i, a);
            else if (a == "-P") cli.overrides.emplace_back("plugins", need(i, a));
            else if (a == "-c") cli.overrides.emplace_back("aggregate", need(i, a));
            else if (a == "-i") cli.overrides.emplace_back("pcap_interface", need(i, a));
            else if (a == "-I") cli.overrides.emplace_back("pcap_savefile", need(i, a));
            else if (a == "-n") cli.overrides.emplace_back("networks_file", need(i, a));
            else if (a == "-O") cli.overrides.emplace_back("print_output", need(i, a));
            else if (a == "-o") cli.overrides.emplace_back("print_output_file", need(i, a));
            else if (a == "-p") cli.overrides.emplace_back("imt_path", need(i, a));
            else if (a == "-Z") cli.overrides.emplace_back("pcap_savefile_delay", need(i, a));
            else if (a == "-Y") cli.overrides.emplace_back("pcap_savefile_replay", need(i, a));
            else if (a == "-W") cli.overrides.emplace_back("pcap_savefile_wait", "true");
            else if (a == "-N") cli.overrides.emplace_back("promisc", "false");
            else if (a == "-D") cli.overrides.emplace_back("daemonize", "true");
            else if (a == "-F") cli.overrides.emplace_back("pidfile", need(i, a));
            else if (a == "-S") cli.overrides.emplace_back("syslog", need(i, a));
            else if (a == "-d") cli.overrides.emplace_back("debug", "true");
            else if (a == "-r") {
                std::string v = need(i, a);
                cli.overrides.emplace_back("print_refresh_time", v);
                cli.overrides.emplace_back("sql_refresh_time", v);
            } else if (a == "-l") cli.overrides.emplace_back("@port", need(i, a));
            else if (a == "-L") cli.overrides.emplace_back("@ip", need(i, a));
            else if (a == "-R") cli.overrides.emplace_back("@renormalize", "true");
            else if (a == "-a") cli.list_primitives = true;
            else if (a == "--module-path") cli.module_dir = need(i, a);
            else if (a == "--list-modules") cli.list_modules = true;
            else if (a == "--print-config") cli.print_config = true;
            else if (a == "--dry-run") cli.dry_run = true;
            else if (!a.empty() && a[0] == '-') throw ConfigError("unknown option " + a + " (see --help)");
            else filter_words.push_back(a);
        }
    } catch (const ConfigError& e) {
        return fail(e.what());
    }

    if (cli.list_primitives) {
        std::printf("Primitives (aggregate):\n  ");
        for (const char* p : {"src_mac", "dst_mac", "vlan", "etype", "src_host", "dst_host", "src_net", "dst_net",
                              "src_mask", "dst_mask", "src_as", "dst_as", "peer_src_as", "peer_dst_as",
                              "peer_src_ip", "peer_dst_ip", "src_port", "dst_port", "tos", "proto", "tcpflags",
                              "tag", "tag2", "label", "class", "in_iface", "out_iface", "sampling_rate",
                              "sum_host", "sum_net", "sum_as", "sum_port", "sum_mac", "flows"})
            std::printf("%s ", p);
        std::printf("\n");
        return 0;
    }

    ConfigModel model;
    try {
        if (!cli.config_file.empty()) load_file(model, cli.config_file);
        std::string prefix = daemon_prefix(prog, model);
        for (auto& [key, value] : cli.overrides) {
            std::string k = key;
            if (k == "@port") k = prefix + "_port";
            else if (k == "@ip") k = prefix + "_ip";
            else if (k == "@renormalize") k = prefix + "_renormalize";
            model.override_all(k, value);
        }
        if (!filter_words.empty()) {
            std::string f;
            for (const auto& w : filter_words) f += (f.empty() ? "" : " ") + w;
            model.override_all("pcap_filter", f);
        }
    } catch (const ConfigError& e) {
        return fail(e.what());
    }

    if (cli.print_config) {
        std::fputs(model.to_yaml().c_str(), stdout);
        return 0;
    }

    // The model moves into the host below; settings are read from wherever it lives.
    const ConfigModel* config = &model;
    auto setting = [&](const char* key) -> std::string {
        const Setting* s = config->find_global(key);
        return s ? s->value : std::string();
    };
    bool debug = false, daemonize = false;
    try {
        debug = setting_flag(config->find_global("debug"), "debug", false);
        daemonize = setting_flag(config->find_global("daemonize"), "daemonize", false);
    } catch (const ConfigError& e) {
        return fail(e.what());
    }
    Log::instance().configure(setting("logfile"), setting("syslog"), debug);

    HostOptions options{cli.module_dir, prog};
    if (cli.list_modules) {
        std::string dir = cli.module_dir.empty() ? setting("module_path") : cli.module_dir;
        try {
            ModuleCatalog catalog(dir.empty() ? default_module_dir() : std::filesystem::path(dir));
            std::printf("Modules in %s:\n", catalog.dir().c_str());
            for (const auto& l : catalog.scan()) {
                if (l.library) {
                    const auto& d = l.library->descriptor();
                    std::printf("  %-11s %-10s %-8s %s\n", kind_name(d.kind), d.name, d.version ? d.version : "",
                                d.description ? d.description : "");
                } else {
                    std::printf("  %-11s %s\n", "unusable", l.error.c_str());
                }
            }
        } catch (const std::exception& e) {
            return fail(e.what());
        }
        return 0;
    }

    Host host(std::move(model), options);
    config = &host.model();
    try {
        host.load();
    } catch (const std::exception& e) {
        return fail(e.what());
    }

    int ready_fd = -1;
    if (daemonize && !cli.dry_run) {
        // The parent waits until the child has set up, so start-up errors reach the caller.
        int fds[2];
        if (pipe(fds) != 0) return fail("cannot create a pipe to daemonize");
        pid_t pid = fork();
        if (pid < 0) return fail("cannot fork");
        if (pid > 0) {
            close(fds[1]);
            std::string msg;
            char buf[512];
            ssize_t n;
            while ((n = read(fds[0], buf, sizeof buf)) > 0) msg.append(buf, static_cast<std::size_t>(n));
            if (msg == "ok") return 0;
            return fail(msg.empty() ? std::string("the daemon exited during start-up") : msg);
        }
        close(fds[0]);
        setsid();
        if (fork() > 0) _exit(0);
        ready_fd = fds[1];
        if (chdir("/") != 0) { /* keep going: relative paths were resolved by the user */ }
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            if (setting("logfile").empty() && setting("syslog").empty()) {
                // Without a log destination a daemon logs to syslog, as pmacct does.
                Log::instance().configure("", "daemon", debug);
            }
            dup2(null, 2);
            if (null > 2) close(null);
        }
    }
    auto report_ready = [&](const std::string& msg) {
        if (ready_fd < 0) return;
        (void)!write(ready_fd, msg.data(), msg.size());
        close(ready_fd);
        ready_fd = -1;
    };

    std::unique_ptr<MetricsServer> metrics;
    try {
        host.create_instances();
        if (std::string listen = setting("metrics_listen"); !listen.empty())
            metrics = std::make_unique<MetricsServer>(listen, host.counters());
        if (cli.dry_run) {
            std::printf("configuration OK\n");
            return 0;
        }
        write_pidfile(setting("pidfile"));
        // Sockets are bound and captures open: nothing below needs root.
        drop_privileges(setting("user"), setting("group"));
        host.start();
        if (metrics) {
            metrics->start();
            log_info("metrics on " + setting("metrics_listen") + " (port " + std::to_string(metrics->port()) + ")");
        }
    } catch (const std::exception& e) {
        report_ready(e.what());
        return fail(e.what());
    }
    report_ready("ok");
    log_info(std::string("flowacctd ") + kVersion + " started");

    int exit_code = 0;
    for (;;) {
        timespec timeout{0, 200'000'000};
        int sig = sigtimedwait(&signals, nullptr, &timeout);
        if (sig == SIGINT || sig == SIGTERM) {
            log_info(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ", stopping");
            break;
        }
        if (sig == SIGHUP) {
            Log::instance().reopen();
            log_info("log reopened");
        } else if (sig == SIGUSR1) {
            host.log_counters();
        } else if (sig == SIGUSR2) {
            log_info("reloading maps");
            host.reload_maps();
        }
        if (host.inputs_done()) break;
    }
    if (metrics) metrics->stop();
    // Stopping drains every queue and flushes every output, which an output that blocks (a FIFO
    // nobody reads, a hung file system) could make last forever. Meanwhile signals are still taken:
    // a second SIGTERM/SIGINT, or shutdown_timeout, quits without waiting, logging what is lost.
    auto remove_pidfile = [&] {
        if (std::string pid = setting("pidfile"); !pid.empty()) std::remove(pid.c_str());
    };
    host.begin_stop();
    {
        const auto began = std::chrono::steady_clock::now();
        auto next_report = began + std::chrono::seconds(10);
        std::string abandon;
        while (!host.stop_done()) {
            timespec slice{0, 100'000'000};
            int sig = sigtimedwait(&signals, nullptr, &slice);
            if (sig == SIGINT || sig == SIGTERM) abandon = "a stop signal while stopping";
            if (sig == SIGHUP) Log::instance().reopen();
            const auto now = std::chrono::steady_clock::now();
            if (host.shutdown_timeout_s() > 0 && now - began >= std::chrono::seconds(host.shutdown_timeout_s()))
                abandon = "shutdown_timeout (" + std::to_string(host.shutdown_timeout_s()) + " s)";
            if (!abandon.empty() && !host.stop_done()) {
                for (const auto& what : host.still_stopping())
                    Log::instance().write(FA_LOG_ERROR, "", "not stopped, abandoned: " + what);
                Log::instance().write(FA_LOG_ERROR, "", "quitting on " + abandon +
                                                            " without waiting for the above: what they hold is lost");
                host.log_counters();
                remove_pidfile();
                std::fflush(nullptr);
                std::_Exit(1);
            }
            if (now >= next_report) {
                for (const auto& what : host.still_stopping())
                    Log::instance().write(FA_LOG_WARN, "", "still stopping: " + what);
                log_info("waiting for the outputs to flush; SIGTERM again quits without them");
                next_report = now + std::chrono::seconds(10);
            }
        }
    }
    if (!host.finish_stop()) exit_code = 1;
    remove_pidfile();
    log_info(exit_code == 0 ? "stopped" : "stopped with errors");
    return exit_code;
}
