import Foundation

/// Runs blocking work (seeding thousands of documents, reading whole stores) on a thread of its
/// own, outside both the Swift concurrency pool and Dispatch's global queues: on a 2-core machine
/// those have two busy threads each, and the fixture servers of this and other tests need them to
/// answer their clients.
func offPool<T>(_ body: @escaping () throws -> T) async throws -> T {
    let work = UncheckedSendable(body)
    let result: UncheckedSendable<Result<T, any Error>> = await withCheckedContinuation { continuation in
        let thread = Thread {
            continuation.resume(returning: UncheckedSendable(Result { try work.value() }))
        }
        thread.stackSize = 4 << 20
        thread.start()
    }
    return try result.value.get()
}

/// Hands a value to another thread whose use the caller keeps exclusive (it awaits the result).
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
