import BGSyncStore
import Testing

@Suite("Revision ids")
struct RevisionIDTests {
    @Test("N-hash parses into generation and hash and prints back the same",
          arguments: [
              "1-967a00dff5e02add41819138abb3284d",
              "2-aaaa",
              "10-0",
              "3-0123456789abcdef0123456789abcdef01234567",  // Couchbase Lite: 40 hex
              "999999999999999999-x",                          // 18 digits
              "4-Opaque_Hash~with.punctuation",
          ])
    func roundTrip(text: String) throws {
        let parsed = try RevisionID(parsing: text)
        #expect(parsed.description == text)
        let dash = try #require(text.firstIndex(of: "-"))
        #expect(parsed.generation == Int(text[..<dash]))
        #expect(parsed.hash == String(text[text.index(after: dash)...]))
        #expect(try RevisionID(generation: parsed.generation, hash: parsed.hash) == parsed)
    }

    @Test("malformed revision ids are refused as invalid revisions",
          arguments: [
              "", "abc", "-abc", "1-", "0-abc", "-1-abc", "x-abc", "1x-abc", "+1-abc", " 1-abc",
              "1-a b", "1-a\"b", "1-a\\b", "1-caf\u{e9}", "1-tab\there", "1234567890123456789-a",
          ])
    func malformed(text: String) {
        let error = #expect(throws: StoreError.self) { try RevisionID(parsing: text) }
        #expect(error?.code == .invalidRevision)
        #expect(error?.couchError == "bad_request")
    }

    @Test("hashes may be up to 128 characters long")
    func hashLength() throws {
        let longest = String(repeating: "a", count: RevisionID.maximumHashLength)
        #expect(try RevisionID(parsing: "1-" + longest).hash == longest)
        #expect(throws: StoreError.self) { try RevisionID(parsing: "1-" + longest + "a") }
    }

    @Test("a generation below 1 is refused", arguments: [0, -1])
    func generationPositive(generation: Int) {
        #expect(throws: StoreError.self) { try RevisionID(generation: generation, hash: "abc") }
    }

    @Test("revision ids order by generation numerically, then by hash bytewise")
    func ordering() {
        #expect(rev("9-zzzz") < rev("10-aaaa"))
        #expect(rev("2-aaaa") < rev("2-bbbb"))
        #expect(rev("2-B") < rev("2-a"))
        #expect(rev("2-9") < rev("2-a"))
        #expect(rev("2-a") < rev("2-ab"))
        #expect(rev("2-ab") < rev("2-b"))
        #expect(!(rev("2-a") < rev("2-a")))
        let sorted = revs("3-a", "1-z", "2-b", "2-a", "10-0").sorted()
        #expect(sorted == revs("1-z", "2-a", "2-b", "3-a", "10-0"))
    }

    @Test("equal ids are equal and hash alike; ids differing in case differ")
    func equality() {
        #expect(rev("2-abc") == rev("2-abc"))
        #expect(Set(revs("2-abc", "2-abc", "2-ABC")).count == 2)
        #expect(rev("2-abc") != rev("3-abc"))
    }
}
