import Synchronization

/// Hands a value to a task so that the task holds the only reference to it: ``take()`` moves it
/// out, once.
final class Handoff<Value: Sendable>: Sendable {
    private let value: Mutex<Value?>

    init(_ value: consuming Value) { self.value = Mutex(value) }

    /// The value; only the first call gets it, later ones nil.
    func take() -> Value? { value.withLock { $0.take() } }
}
