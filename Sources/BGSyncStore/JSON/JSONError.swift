/// An error thrown when JSON text is malformed, when the JSON reader is asked for
/// a value of the wrong type, or when the reader is driven in an invalid order.
///
/// The ``offset`` is the byte offset (into the UTF-8 input) where the problem was
/// detected; it is always absolute, even when only a sub-range of a buffer is read.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The byte offset into the UTF-8 input at which the problem was detected.
    public var offset: Int
    /// A short, human-readable description of the problem.
    public var message: String

    /// Creates an error at the given byte offset.
    public init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }

    /// A description such as `invalid JSON at byte 17: expected ',' or '}' after object member`.
    public var description: String {
        "invalid JSON at byte \(offset): \(message)"
    }
}
