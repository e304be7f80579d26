import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension SystemProbe {
    /// Runs a status program (`nmcli`, `mmcli`) for a probe: no shell, stdin and stderr on
    /// `/dev/null`, stdout captured (bounded), in a process group of its own that is killed as a
    /// whole at the deadline (a script's `sleep` child must not keep the pipe open).
    ///
    /// `posix_spawn` rather than `Process`: it changes nothing process-wide, can put the child in
    /// its own process group, and lets the deadline cover reading as well as waiting.
    enum Command {
        /// Standard output of `program arguments…` when it exits with status 0 before
        /// `timeout` seconds; nil when it cannot be started, fails, is killed or times out.
        static func run(_ program: String, _ arguments: [String], environment: [String: String],
                        timeout: Double, maxOutput: Int = 1 << 20) -> String? {
            var pipeEnds: [Int32] = [-1, -1]
            guard makePipe(&pipeEnds) else { return nil }
            let readEnd = pipeEnds[0], writeEnd = pipeEnds[1]
            defer { close(readEnd) }

            guard let pid = spawn(program, arguments, environment: environment, stdout: writeEnd) else {
                close(writeEnd)
                return nil
            }
            close(writeEnd)

            let deadline = monotonicNow() + max(0, timeout)
            var output: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 16 * 1024)
            var timedOut = false
            reading: while true {
                let remaining = deadline - monotonicNow()
                if remaining <= 0 { timedOut = true; break }
                var entry = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
                let ready = poll(&entry, 1, Int32(min(remaining * 1000, Double(Int32.max)).rounded(.up)))
                if ready < 0 {
                    if errno == EINTR { continue }
                    break
                }
                if ready == 0 { continue }
                let count = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
                if count < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    break reading
                }
                if count == 0 { break reading }  // EOF
                if output.count < maxOutput { output += buffer[0..<min(count, maxOutput - output.count)] }
            }

            // Wait for the exit, still within the deadline.
            var status: Int32 = 0
            var exited = false
            while !timedOut {
                let result = waitpid(pid, &status, WNOHANG)
                if result == pid { exited = true; break }
                if result < 0 && errno != EINTR { break }
                if monotonicNow() >= deadline { timedOut = true; break }
                usleep(5_000)
            }
            if !exited {
                kill(-pid, SIGKILL)  // the whole group: the program and whatever it started
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                return nil
            }
            // Exited normally with status 0 (WIFEXITED && WEXITSTATUS == 0).
            guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else { return nil }
            return String(decoding: output, as: UTF8.self)
        }

        /// Starts `program` in a new process group with `stdout` as its standard output.
        private static func spawn(_ program: String, _ arguments: [String], environment: [String: String],
                                  stdout: Int32) -> pid_t? {
            #if canImport(Darwin)
            var actions: posix_spawn_file_actions_t? = nil
            var attributes: posix_spawnattr_t? = nil
            #else
            var actions = posix_spawn_file_actions_t()
            var attributes = posix_spawnattr_t()
            #endif
            guard posix_spawn_file_actions_init(&actions) == 0 else { return nil }
            defer { posix_spawn_file_actions_destroy(&actions) }
            guard posix_spawnattr_init(&attributes) == 0 else { return nil }
            defer { posix_spawnattr_destroy(&attributes) }

            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_adddup2(&actions, stdout, 1)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)

            var noSignals = sigset_t()
            sigemptyset(&noSignals)
            posix_spawnattr_setsigmask(&attributes, &noSignals)
            var defaults = sigset_t()
            sigemptyset(&defaults)
            for signal in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT] { sigaddset(&defaults, signal) }
            posix_spawnattr_setsigdefault(&attributes, &defaults)
            posix_spawnattr_setpgroup(&attributes, 0)
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

            let argv = ([program] + arguments).map { strdup($0) }
            let envp = environment.map { strdup("\($0.key)=\($0.value)") }
            defer {
                argv.forEach { free($0) }
                envp.forEach { free($0) }
            }
            var pid: pid_t = 0
            // A script written a moment ago may still be open for writing in a child that another
            // thread forked (ETXTBSY): try again briefly.
            for attempt in 0..<20 {
                let result = (argv + [nil]).withUnsafeBufferPointer { argvBuffer in
                    (envp + [nil]).withUnsafeBufferPointer { envpBuffer in
                        posix_spawn(&pid, program, &actions, &attributes, argvBuffer.baseAddress!, envpBuffer.baseAddress!)
                    }
                }
                if result == 0 { return pid }
                if result != ETXTBSY || attempt == 19 { return nil }
                usleep(10_000)
            }
            return nil
        }

        private static func makePipe(_ ends: inout [Int32]) -> Bool {
            #if canImport(Glibc)
            // Glibc's module lacks pipe2: a socket pair can be made close-on-exec atomically, so a
            // child that another thread starts meanwhile cannot inherit (and hold open) our end.
            return socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0
            #else
            guard pipe(&ends) == 0 else { return false }
            _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
            return true
            #endif
        }

        private static func monotonicNow() -> Double {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
        }
    }
}
