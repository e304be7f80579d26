/// One top-level member of a JSON object, located by byte ranges in the buffer it
/// was split from (see ``RawJSONObject/members(ofObject:in:)``).
package struct RawJSONMember: Sendable, Hashable {
    /// The decoded key.
    package let key: String
    /// The byte range of the key token, including its quotes.
    package let keyRange: Range<Int>
    /// The byte range of the raw value text, without surrounding whitespace.
    package let valueRange: Range<Int>

    /// Creates a member description.
    package init(key: String, keyRange: Range<Int>, valueRange: Range<Int>) {
        self.key = key
        self.keyRange = keyRange
        self.valueRange = valueRange
    }
}
