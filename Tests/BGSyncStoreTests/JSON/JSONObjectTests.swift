import Testing
import BGSyncStore

@Suite struct JSONObjectTests {
    @Test func subscriptReturnsFirstOfDuplicateKeys() {
        let object = JSONObject([(key: "a", value: 1), (key: "b", value: 2), (key: "a", value: 3)])
        #expect(object["a"] == 1)
        #expect(object["b"] == 2)
        #expect(object["c"] == nil)
        #expect(object.index(forKey: "b") == 1)
    }

    @Test func setReplacesFirstOrAppends() {
        var object: JSONObject = ["a": 1, "b": 2, "a": 3]
        object.set("a", "x")
        object.set("c", true)
        #expect(JSONValue.object(object).serialized == #"{"a":"x","b":2,"a":3,"c":true}"#)
        object["b"] = nil
        object["d"] = .null
        #expect(JSONValue.object(object).serialized == #"{"a":"x","a":3,"c":true,"d":null}"#)
    }

    @Test func removeValueRemovesEveryMemberWithTheKey() {
        var object: JSONObject = ["a": 1, "b": 2, "a": 3]
        #expect(object.removeValue(forKey: "a") == 1)
        #expect(object.keys == ["b"])
        #expect(object.removeValue(forKey: "a") == nil)
    }

    @Test func keysCompareBytewise() {
        let object: JSONObject = ["é": 1]
        #expect(object["é"] == 1)
        #expect(object["e\u{301}"] == nil)
    }

    @Test func iteratesMembersInOrder() {
        let object: JSONObject = ["z": 1, "y": 2, "x": 3]
        var keys: [String] = []
        for (key, _) in object { keys.append(key) }
        #expect(keys == ["z", "y", "x"])
        #expect(object.count == 3)
        #expect(!object.isEmpty)
        #expect(JSONObject().isEmpty)
    }

    @Test func equalityIsOrderSensitive() {
        let ab: JSONObject = ["a": 1, "b": 2]
        let ba: JSONObject = ["b": 2, "a": 1]
        #expect(ab != ba)
        #expect(ab == JSONObject([(key: "a", value: 1), (key: "b", value: 2)]))
        #expect(Set([ab, ba, ab]).count == 2)
    }
}
