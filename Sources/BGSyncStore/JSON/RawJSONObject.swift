/// Splits a JSON object into its top-level members without decoding the values,
/// so that they can be copied through verbatim.
package enum RawJSONObject {
    /// Splits the single JSON object held in `bytes` (or in the sub-range `range` of
    /// `bytes`, which may be surrounded by whitespace) into its top-level members,
    /// in order, duplicates kept. Every member value is fully validated. Ranges and
    /// error offsets are relative to the start of `bytes`.
    package static func members(
        ofObject bytes: [UInt8], in range: Range<Int>? = nil
    ) throws(JSONError) -> [RawJSONMember] {
        let range = range ?? 0..<bytes.count
        guard range.lowerBound >= 0, range.upperBound <= bytes.count else {
            throw JSONError(
                offset: max(0, min(range.lowerBound, bytes.count)),
                message: "range \(range) is outside the \(bytes.count)-byte buffer")
        }
        var reader = JSONReader(bytes, in: range)
        var result: [RawJSONMember] = []
        try reader.beginObject()
        while let (key, keyRange) = try reader.nextKeyRange() {
            let valueRange = try reader.skipValue()
            result.append(RawJSONMember(key: key, keyRange: keyRange, valueRange: valueRange))
        }
        try reader.finish()
        return result
    }
}
