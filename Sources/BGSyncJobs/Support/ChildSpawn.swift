#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A started child: its pid (also its process group id) and bgsync's ends of its pipes
/// (non-blocking, close-on-exec; -1 once closed).
struct SpawnedChild {
    let pid: pid_t
    var stdin: Int32
    var stdout: Int32
    var stderr: Int32
}

/// Starts a program with `posix_spawn`: in a new process group, stdin/stdout/stderr on fresh
/// pipes, no other descriptor inherited, default signal dispositions and an empty signal mask.
enum ChildSpawn {
    /// The signals whose disposition the child gets back to default: bgsync ignores SIGPIPE and,
    /// while it watches for them, SIGTERM and SIGINT; an ignored disposition would be inherited.
    static let defaultedSignals: [Int32] = [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT]

    /// Starts `argv[0]` with `argv`; `environment` replaces the child's when given.
    /// - Throws: ``JobError`` (configuration) naming the program and why it cannot run.
    static func start(_ argv: [String], environment: [String: String]?) throws -> SpawnedChild {
        guard let program = argv.first, !program.isEmpty else {
            throw JobError(.configuration, "an empty command; give an absolute path to an executable and its arguments")
        }
        // [stdin, stdout, stderr] pipes; the child gets stdin's read end and the others' write ends.
        var pipes: [(read: Int32, write: Int32)] = []
        defer { for pipe in pipes { closeIfOpen(pipe.read); closeIfOpen(pipe.write) } }
        for _ in 0..<3 {
            guard let pipe = makePipe() else {
                throw JobError(.configuration, "\(program): cannot run it: no pipe (\(String(cString: strerror(errno))))")
            }
            pipes.append(pipe)
        }
        let pid = try spawn(program, argv: argv, environment: environment,
                            stdin: pipes[0].read, stdout: pipes[1].write, stderr: pipes[2].write)
        let child = SpawnedChild(pid: pid, stdin: pipes[0].write, stdout: pipes[1].read, stderr: pipes[2].read)
        // Ours stay open (taken over by `child`); the child's ends close in the defer.
        pipes[0].write = -1; pipes[1].read = -1; pipes[2].read = -1
        for fd in [child.stdin, child.stdout, child.stderr] {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        return child
    }

    private static func spawn(_ program: String, argv: [String], environment: [String: String]?,
                              stdin: Int32, stdout: Int32, stderr: Int32) throws -> pid_t {
        #if canImport(Darwin)
        var actions: posix_spawn_file_actions_t? = nil
        var attributes: posix_spawnattr_t? = nil
        #else
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        #endif
        guard posix_spawn_file_actions_init(&actions) == 0 else { throw cannotRun(program, errno) }
        defer { posix_spawn_file_actions_destroy(&actions) }
        guard posix_spawnattr_init(&attributes) == 0 else { throw cannotRun(program, errno) }
        defer { posix_spawnattr_destroy(&attributes) }

        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        // Belt and braces: descriptors that some library opened without O_CLOEXEC stay here.
        if let closeFrom = Native.closeFrom { _ = closeFrom(&actions, 3) }

        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in defaultedSignals { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let arguments = argv.map { strdup($0) }
        let variables = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } }
        defer {
            arguments.forEach { free($0) }
            variables?.forEach { free($0) }
        }
        var pid: pid_t = 0
        // A script written a moment ago may still be open for writing in a child that another
        // thread forked meanwhile (ETXTBSY): try again briefly. Only on that error, never a wait.
        for attempt in 0..<20 {
            let result = withNullTerminated(arguments) { argv in
                withEnvironment(variables) { envp in
                    posix_spawn(&pid, program, &actions, &attributes, argv, envp)
                }
            }
            if result == 0 { return pid }
            if result != ETXTBSY || attempt == 19 { throw cannotRun(program, result) }
            usleep(10_000)
        }
        throw cannotRun(program, ETXTBSY)
    }

    /// `body` with a NULL-terminated `envp`: `variables`, or this process's own environment.
    private static func withEnvironment(_ variables: [UnsafeMutablePointer<CChar>?]?,
                                        _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> Int32) -> Int32 {
        guard let variables else { return body(UnsafePointer(environ)) }
        return withNullTerminated(variables, body)
    }

    /// `body` with `strings` followed by a NULL pointer, as `argv` and `envp` are.
    private static func withNullTerminated(_ strings: [UnsafeMutablePointer<CChar>?],
                                           _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> Int32) -> Int32 {
        (strings + [nil]).withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return EINVAL }
            return body(base)
        }
    }

    /// The error for a program that `posix_spawn` could not start, with `code` (an errno) in words.
    static func cannotRun(_ program: String, _ code: Int32) -> JobError {
        let why: String
        switch code {
        case ENOENT: why = "not found"
        case EACCES: why = "permission denied (not executable, or a directory on its path is not searchable)"
        case ENOEXEC: why = "not an executable format (a script needs a #! line)"
        case ENOTDIR: why = "a part of its path is not a directory"
        case ETXTBSY: why = "the file is open for writing"
        default: why = String(cString: strerror(code))
        }
        let hint = program.hasPrefix("/") ? "" : " (\"\(program)\" is not an absolute path; no PATH search is done)"
        return JobError(.configuration, "\(program): cannot run it: \(why)\(hint); give an absolute path to an executable")
    }

    /// A pipe whose both ends are close-on-exec from the start (`pipe2(O_CLOEXEC)`), so that a
    /// child started by another thread meanwhile cannot inherit them and hold them open.
    static func makePipe() -> (read: Int32, write: Int32)? {
        var ends: [Int32] = [-1, -1]
        if let pipe2 = Native.pipe2 {
            guard pipe2(&ends, O_CLOEXEC) == 0 else { return nil }
        } else {
            guard pipe(&ends) == 0 else { return nil }
            _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
        }
        return (ends[0], ends[1])
    }

    static func closeIfOpen(_ fd: Int32) {
        if fd >= 0 { close(fd) }
    }
}

/// C functions that the Glibc module does not import (they need `_GNU_SOURCE`), looked up once
/// at run time; nil where the C library lacks them.
enum Native {
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32
    typealias CloseFrom = @convention(c) (UnsafeMutableRawPointer?, Int32) -> Int32
    typealias PidfdOpen = @convention(c) (pid_t, UInt32) -> Int32

    /// `pipe2(2)`.
    static let pipe2: Pipe2? = lookUp("pipe2")
    /// `posix_spawn_file_actions_addclosefrom_np(3)` (glibc 2.34).
    static let closeFrom: CloseFrom? = lookUp("posix_spawn_file_actions_addclosefrom_np")
    /// `pidfd_open(2)` (glibc 2.36, Linux 5.3): a descriptor that polls readable when the
    /// process exits.
    static let pidfdOpen: PidfdOpen? = lookUp("pidfd_open")

    private static func lookUp<T>(_ name: String) -> T? {
        #if os(Linux)
        guard let symbol = dlsym(nil, name) else { return nil }
        return unsafeBitCast(symbol, to: T.self)
        #else
        return nil
        #endif
    }
}
