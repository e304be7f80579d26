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
    static let shared = ServerExecutor(threads: 16)

    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []  // guarded by `condition`
    private var head = 0  // guarded by `condition`

    private init(threads: Int) {
        for index in 0..<threads {
            let thread = Thread { [unowned self] in self.work() }
            thread.name = "bgsync.fixture-server.\(index)"
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
