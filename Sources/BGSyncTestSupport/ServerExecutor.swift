import Foundation

/// A small pool of dedicated threads that runs the fixture servers' tasks.
///
/// Tests run in parallel in one process, and many of them do seconds of synchronous work
/// (filling and comparing stores) on the concurrency pool, which has one thread per core. On a
/// 2-core machine two such tests left every fixture server in the process without a thread for
/// longer than a client's timeout, and tests that had nothing to do with timeouts failed with
/// "the server stopped sending". Server tasks prefer this executor instead (a task executor
/// preference, inherited by the per-connection child tasks), so the operating system, not the
/// cooperative pool, shares the cores between servers and tests.
final class ServerExecutor: TaskExecutor, @unchecked Sendable {
    /// The executor every fixture server in this process shares.
    /// Many threads, most of them idle: a handler doing seconds of synchronous store work
    /// (seeding a 20 MB document, a crash test's 10,000) must not queue every other server's
    /// requests behind it.
    static let shared = ServerExecutor(threads: 16, name: "fixture-server")

    /// The executor of ``onDedicatedThreads(_:)``: the clients of those servers.
    static let clients = ServerExecutor(threads: 8, name: "test-client")

    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []  // guarded by `condition`
    private var head = 0  // guarded by `condition`

    private init(threads: Int, name: String) {
        for index in 0..<threads {
            let thread = Thread { [unowned self] in self.work() }
            thread.name = "bgsync.\(name).\(index)"
            thread.start()
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while head == jobs.count { condition.wait() }
            let job = jobs[head]
            head += 1
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
            }
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

/// Runs `body` (and the tasks it starts) on threads of its own instead of the concurrency pool.
///
/// A replication in a test measures time against deadlines (a request's timeout, the whole
/// response's). On the pool, a resumed request waits behind every test of a parallel run that
/// has not started yet — minutes on a 2-core machine — and then counts as a slow server. The
/// bgsync binary has its process to itself; this gives a test's client the same.
public func onDedicatedThreads<T>(_ body: () async throws -> T) async throws -> T {
    try await withTaskExecutorPreference(ServerExecutor.clients, operation: body)
}
