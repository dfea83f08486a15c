//! Native unit tests: every rule, every mode, JSON-aware redaction, the precision list,
//! config, fields (labels/metadata) and counts.

use super::*;
use crate::rules::numbers::luhn;

fn red(line: &str) -> String {
    Redactor::default().redact_cow(line).into_owned()
}

fn with(config: &str, line: &str) -> String {
    Redactor::from_config_json(config)
        .unwrap()
        .redact_cow(line)
        .into_owned()
}

fn unchanged(line: &str) {
    let mut out = String::new();
    assert_eq!(
        Redactor::default().redact(line, &mut out),
        0,
        "{line:?} -> {out:?}"
    );
    assert!(out.is_empty());
}

fn valid_json(s: &str) {
    serde_json::from_str::<serde_json::Value>(s).unwrap_or_else(|e| panic!("{s}: {e}"));
}

// ----- email -----

#[test]
fn email_positive() {
    assert_eq!(
        red("user john.doe+x@example.com logged in"),
        "user <email> logged in"
    );
    assert_eq!(
        red(r#"{"email":"a_b-c%d@mail.sub.example.co.uk","x":1}"#),
        r#"{"email":"<email>","x":1}"#
    );
    assert_eq!(red("<ops@corp.io>, dev@corp.io."), "<<email>>, <email>.");
    assert_eq!(red("x@y.museum"), "<email>");
    assert_eq!(red("JOHN.DOE@EXAMPLE.COM"), "<email>");
    assert_eq!(red("to o'brien@example.ie now"), "to <email> now");
    assert_eq!(red("'quoted@example.com'"), "'<email>'");
    assert_eq!(red(r#"to "john doe"@example.org"#), "to <email>");
    assert_eq!(red("?email=jane%40example.com&x"), "?email=<email>&x");
    assert_eq!(red("a.b+tag+more@sub.domain.example.com"), "<email>");
}

#[test]
fn email_negative() {
    unchanged("user@localhost");
    unchanged("@timestamp field");
    unchanged("a@b.c1");
    unchanged("image sha256@deadbeef");
    unchanged("price 5 @ 3.50");
    unchanged("me@.com");
    unchanged("ssh://git@github.com/x.git");
}

// ----- IPv4 / IPv6 -----

#[test]
fn ipv4_positive() {
    assert_eq!(red("client=10.0.0.1 port"), "client=<ipv4> port");
    assert_eq!(red("from 192.168.1.254:8080"), "from <ipv4>:8080");
    assert_eq!(red(r#""ip":"255.255.255.255""#), r#""ip":"<ipv4>""#);
    assert_eq!(red("connected to 8.8.8.8."), "connected to <ipv4>.");
    assert_eq!(red("1.2.3.4"), "<ipv4>");
    assert_eq!(red("root@10.1.2.3"), "root@<ipv4>");
    assert_eq!(
        red("a 10.0.0.1,10.0.0.2;10.0.0.3"),
        "a <ipv4>,<ipv4>;<ipv4>"
    );
}

#[test]
fn ipv4_negative_and_versions() {
    unchanged("version 1.2.3.4.5 released");
    unchanged("v10.2.3");
    unchanged("app v10.2.3.4");
    unchanged("1.2.3");
    unchanged("256.1.1.1");
    unchanged("1.2.3.256");
    unchanged("1234.1.1.1");
    unchanged("1.2.3.4a");
    unchanged("x1.2.3.4");
    unchanged("1.2.3.4.example.com");
    unchanged("took 10.5ms at 2024-01-15T10:23:45.123456Z");
    unchanged("port 8080 and 443");
    unchanged("version 1.2.3.4");
    unchanged("version=1.2.3.4 build: 4.3.2.1 release 10.4.12.7");
    unchanged("app_version=1.2.3.4");
    unchanged(r#"{"version":"1.2.3.4","agentVersion":"2.0.0.1"}"#);
}

#[test]
fn ipv6_forms() {
    assert_eq!(red("from 2001:db8::8a2e:370:7334 ok"), "from <ipv6> ok");
    assert_eq!(
        red("FULL 2001:0DB8:0000:0000:0000:FF00:0042:8329 x"),
        "FULL <ipv6> x"
    );
    assert_eq!(red("lo ::1 port 9090"), "lo <ipv6> port 9090");
    assert_eq!(red("mapped ::ffff:1.2.3.4 ok"), "mapped <ipv6> ok");
    assert_eq!(red("[2001:db8::2]:8443"), "[<ipv6>]:8443");
    assert_eq!(red("ll fe80::1ff:fe23:4567:890a%eth0"), "ll <ipv6>%eth0");
    assert_eq!(red("ip:2001:db8::1"), "ip:<ipv6>");
    assert_eq!(red("net 2001:db8:85a3::/48"), "net <ipv6>/48");
}

#[test]
fn ipv6_negative() {
    unchanged("at 10:23:45 and 2026:10:20:11");
    unchanged("mac 00:1a:2b:3c:4d:5e");
    unchanged("std::collections::HashMap db::add dead::beef");
    unchanged("1:2:3:4:5:6:7:8:9");
    unchanged("a::b::c");
}

// ----- numbers -----

#[test]
fn credit_card_positive() {
    assert_eq!(red("card 4111111111111111 ok"), "card <credit_card> ok");
    assert_eq!(red("card 4111 1111 1111 1111."), "card <credit_card>.");
    assert_eq!(red("card=4111-1111-1111-1111"), "card=<credit_card>");
    assert_eq!(red("amex 378282246310005"), "amex <credit_card>");
    assert_eq!(red("amex 3782 822463 10005"), "amex <credit_card>");
    assert_eq!(
        red("mc 5500 0000 0000 0004 exp 12/27"),
        "mc <credit_card> exp 12/27"
    );
    assert_eq!(red(r#""cc":"6011111111111117""#), r#""cc":"<credit_card>""#);
    assert_eq!(red("visa13 4222222222222"), "visa13 <credit_card>");
    assert_eq!(red("4111 1111 1111 1111 2024"), "<credit_card> 2024");
    assert_eq!(
        red("order 1234 4111111111111111"),
        "order 1234 <credit_card>"
    );
}

#[test]
fn credit_card_negative() {
    unchanged("card 4111111111111112 fails luhn");
    unchanged("card 4111 1111 1111 1112");
    unchanged("4111-1111 1111-1111"); // mixed separators
    unchanged("ts=1705312225123456789"); // ns timestamp (starts with 1)
    unchanged("ts=1705312225123"); // ms timestamp
    unchanged("id 41111111111111111111111"); // too long
    unchanged("trace 4bf92f3577b34da6a3ce929d0e0e4736");
    unchanged("trace 4111111111111111a");
    unchanged("amount 4111111111111111.25");
    unchanged("phone 555 1234");
    unchanged("order_id=9083630838981366 ref=5428343351417194");
}

#[test]
fn ssn() {
    assert_eq!(red("ssn=078-05-1120 ok"), "ssn=<ssn> ok");
    assert_eq!(red(r#"{"ssn":"219-09-9999"}"#), r#"{"ssn":"<ssn>"}"#);
    unchanged("000-12-3456 666-12-3456 900-12-3456 123-00-4567 123-45-0000");
    unchanged("date 2024-01-15 id 123-45-67890");
}

#[test]
fn phone() {
    assert_eq!(red("phone=+19489266124&x=1"), "phone=<phone>&x=1");
    assert_eq!(red("uk +44 20 7946 0958, ok"), "uk <phone>, ok");
    assert_eq!(red("us +1 (415) 555-2671 x"), "us <phone> x");
    assert_eq!(red("de +49-30-1234567"), "de <phone>");
    assert_eq!(red("q=%2B14155552671&"), "q=<phone>&");
    assert_eq!(red("call (555) 123-4567 now"), "call <phone> now");
    assert_eq!(red("call 555-123-4567 now"), "call <phone> now");
    assert_eq!(red("fax 555.867.5309"), "fax <phone>");
    assert_eq!(red("tollfree 1-800-555-0199"), "tollfree <phone>");
    assert_eq!(
        red("uk 020 7946 0958 / 07700 900123"),
        "uk <phone> / <phone>"
    );
    assert_eq!(red("fr 01 23 45 67 89"), "fr <phone>");
    assert_eq!(red("+1 555 123 4567 200 OK"), "<phone> 200 OK");
    unchanged("tz +0000 +05:30 count +12 +1234567");
    unchanged("epoch 1717171717 id 5551234567");
    unchanged("a+15551234567");
}

#[test]
fn iban() {
    assert_eq!(red("to GB82WEST12345698765432 ok"), "to <iban> ok");
    assert_eq!(red("to GB82 WEST 1234 5698 7654 32 ok"), "to <iban> ok");
    assert_eq!(red("FR14 2004 1010 0505 0001 3M02 606"), "<iban>");
    assert_eq!(red("NO9386011117947"), "<iban>");
    assert_eq!(red("x=DE89-3704-0044-0532-0130-00"), "x=<iban>");
    unchanged("GB82WEST12345698765433"); // mod-97 fails
    unchanged("GB82WEST1234569876543"); // wrong length
    unchanged("ZZ82WEST12345698765432"); // not a country
    unchanged("gb82west12345698765432"); // lower case
}

// ----- tokens -----

#[test]
fn jwt() {
    let t = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    assert_eq!(red(&format!("tok {t} ok")), "tok <jwt> ok");
    assert_eq!(
        red("none eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0. x"),
        "none <jwt> x"
    );
    unchanged("eyJhbGciOiJIUzI1NiJ9 alone");
}

#[test]
fn bearer_and_authorization() {
    assert_eq!(
        red("Authorization: Bearer 8f3a9c2d7e1b4a6f9c0d"),
        "Authorization: Bearer <bearer_token>"
    );
    assert_eq!(
        red("authorization=Basic dXNlcjpwYXNzd29yZA== ok"),
        "authorization=Basic <bearer_token> ok"
    );
    assert_eq!(
        red("-H 'Authorization: Token tk_live_9f8e7d'"),
        "-H 'Authorization: Token <bearer_token>'"
    );
    assert_eq!(
        red(r#"{"Authorization":"abc123def456"}"#),
        r#"{"Authorization":"<bearer_token>"}"#
    );
    unchanged("bearer token expired; Basic auth failed");
}

#[test]
fn aws_github_slack() {
    assert_eq!(red("key AKIAIOSFODNN7EXAMPLE x"), "key <aws_access_key> x");
    assert_eq!(red("(ASIAY34FZKBOKMUTVV7A)"), "(<aws_access_key>)");
    unchanged("AKIAIOSFODNN7EXAMPL AKIAIOSFODNN7EXAMPLEX");
    for t in [
        "ghp_1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R",
        "gho_16C7e42F292c6912E7710c838347Ae178B4a",
        "ghu_abcdefghijklmnopqrstuvwxyz0123456789",
        "ghs_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        "ghr_0123456789abcdefghijABCDEFGHIJ012345",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    ] {
        assert_eq!(red(&format!("t {t} x")), "t <github_token> x", "{t}");
    }
    unchanged("ghp_short");
    for t in [
        "xoxb-123456789012-1234567890123-AbCdEfGhIjKl",
        "xoxp-1111111111-2222222222-abcdef",
        "xoxa-2-abcdef123456",
        "xoxr-9876543210-abc",
        "xoxs-1234567890-abcdefg",
    ] {
        assert_eq!(red(&format!("t {t} x")), "t <slack_token> x", "{t}");
    }
    assert_eq!(
        red("hook https://hooks.slack.com/services/T000/B000/XXXXXXXX failed"),
        "hook <slack_token> failed"
    );
}

// ----- secrets -----

#[test]
fn secrets_key_value() {
    assert_eq!(
        red("user=a password=hunter2 x=1"),
        "user=a password=<secret> x=1"
    );
    assert_eq!(red(r#"passwd="two words" h=1"#), r#"passwd="<secret>" h=1"#);
    assert_eq!(red("PWD: Tr0ub&3 for"), "PWD: <secret> for");
    assert_eq!(red("?apikey=AbC123&page=2"), "?apikey=<secret>&page=2");
    assert_eq!(red("X-Api-Key: 7c4a8d09"), "X-Api-Key: <secret>");
    assert_eq!(red("DB_PASSWORD=Pa55!"), "DB_PASSWORD=<secret>");
    assert_eq!(red("clientSecret=abc"), "clientSecret=<secret>");
    assert_eq!(
        red("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG"),
        "aws_secret_access_key=<secret>"
    );
    assert_eq!(
        red(r#"payload={"secret":"v","n":1}"#),
        r#"payload={"secret":"<secret>","n":1}"#
    );
    unchanged("token_count=42 tokens=100 bypass=true secretary=jane password=");
}

#[test]
fn secrets_configurable() {
    let c = r#"{"secret_keys":["pin"]}"#;
    assert_eq!(with(c, "pin=1234 password=x"), "pin=<secret> password=x");
    let c = r#"{"extra_secret_keys":["pin"]}"#;
    assert_eq!(
        with(c, "pin=1234 password=x"),
        "pin=<secret> password=<secret>"
    );
}

#[test]
fn url_credentials() {
    assert_eq!(
        red("postgres://admin:S3cret@db.example.com:5432/app"),
        "postgres://<url_credentials>@db.example.com:5432/app"
    );
    assert_eq!(
        red("amqp://guest:guest@rabbit/"),
        "amqp://<url_credentials>@rabbit/"
    );
    unchanged("https://example.com/a?b=1 ssh://git@github.com/x");
}

#[test]
fn custom_rules() {
    let c = r#"{"custom":[{"name":"employee_id","pattern":"EMP-[0-9]{6}"},{"name":"ticket","pattern":"TCK[0-9]+","mode":"drop"}]}"#;
    assert_eq!(
        with(c, "emp EMP-123456 mail a@b.io ticket TCK42 end"),
        "emp <employee_id> mail <email> ticket  end"
    );
    let r = Redactor::from_config_json(c).unwrap();
    assert_eq!(r.rule_names()[BUILTIN..], ["employee_id", "ticket"]);
    let c =
        r#"{"custom":[{"name":"employee_id","pattern":"EMP-[0-9]{6}"}],"disable":["employee_id"]}"#;
    assert_eq!(with(c, "EMP-123456"), "EMP-123456");
    // Word boundaries (Unicode-aware, as in the `regex` crate) and a JSON line, which
    // custom rules walk value by value.
    let c = r#"{"rules":[],"custom":[{"name":"order","pattern":"\\bORD[0-9]{4}\\b"}]}"#;
    assert_eq!(
        with(c, "ORD1234 xORD1234 ORD12345 éORD1234"),
        "<order> xORD1234 ORD12345 éORD1234"
    );
    assert_eq!(
        with(c, r#"{"msg":"paid ORD0042","ref":"ORD0042x"}"#),
        r#"{"msg":"paid <order>","ref":"ORD0042x"}"#
    );
    assert!(Redactor::from_config_json(r#"{"custom":[{"name":"x","pattern":"("}]}"#).is_err());
    assert!(Redactor::from_config_json(r#"{"custom":[{"name":"email","pattern":"a"}]}"#).is_err());
    assert!(
        Redactor::from_config_json(r#"{"custom":[{"name":"Bad Name","pattern":"a"}]}"#).is_err()
    );
}

// ----- modes -----

#[test]
fn mode_pseudonym() {
    let c = r#"{"mode":"pseudonym","pseudonym_key":"k1"}"#;
    let a = with(c, "u Alice@Example.com");
    let b = with(c, "v alice@example.com");
    assert!(a.starts_with("u <email:") && a.ends_with('>'), "{a}");
    let tok = &a[2..];
    assert_eq!(tok.len(), "<email:>".len() + 16);
    assert_eq!(&b[2..], tok, "same person, same token (case-normalised)");
    let other = with(
        r#"{"mode":"pseudonym","pseudonym_key":"k2"}"#,
        "u Alice@Example.com",
    );
    assert_ne!(other, a, "another key, another token");
    // Separators do not matter for cards.
    let x = with(c, "4111 1111 1111 1111");
    assert_eq!(x, with(c, "4111-1111-1111-1111"));
    // HMAC-SHA256 test vector (RFC 4231 case 2).
    let mac = modes::Hmac::new(b"Jefe").mac(&[b"what do ya want ", b"for nothing?"]);
    let mut hex = String::new();
    modes::push_hex(&mut hex, &mac);
    assert_eq!(
        hex,
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    let e = Redactor::from_config_json(r#"{"mode":"pseudonym"}"#).unwrap_err();
    assert!(e.contains("pseudonym_key"), "{e}");
}

#[test]
fn mode_partial() {
    let c = r#"{"mode":"partial"}"#;
    assert_eq!(
        with(c, "card 4111 1111 1111 1234"),
        "card 4111 1111 1111 1234"
    ); // not Luhn
    assert_eq!(
        with(c, "card 4111 1111 1111 1111"),
        "card <credit_card:…1111>"
    );
    assert_eq!(with(c, "a@example.com"), "<email:…@example.com>");
    assert_eq!(with(c, "10.1.2.3"), "<ipv4:10.1.2.…>");
    assert_eq!(with(c, "2001:db8:85a3::1"), "<ipv6:2001:db8:85a3:…>");
    assert_eq!(with(c, "GB82WEST12345698765432"), "<iban:GB…5432>");
    assert_eq!(with(c, "078-05-1120"), "<ssn:…1120>");
    assert_eq!(with(c, "+19489266124"), "<phone:…6124>");
    assert_eq!(
        with(c, "AKIAIOSFODNN7EXAMPLE"),
        "<aws_access_key:AKIA…MPLE>"
    );
    assert_eq!(
        with(c, "ghp_1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R"),
        "<github_token:ghp_…>"
    );
    assert_eq!(with(c, "xoxb-1234567890-abc"), "<slack_token:xoxb-…>");
    assert_eq!(
        with(c, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.x"),
        "<jwt:eyJhbGciOiJub25lIn0.…>"
    );
    assert_eq!(with(c, "db://bob:pw@h"), "db://<url_credentials:bob:…>@h");
    assert_eq!(with(c, "password=x"), "password=<secret>");
}

#[test]
fn mode_drop() {
    let c = r#"{"mode":"drop"}"#;
    assert_eq!(with(c, "user=a password=hunter2 x=1"), "user=a x=1");
    assert_eq!(with(c, "x=1 password=hunter2"), "x=1");
    assert_eq!(with(c, "?a=1&email=a@b.io&c=2"), "?a=1&c=2");
    assert_eq!(with(c, "mail a@b.io now"), "mail  now");
    assert_eq!(with(c, r#"msg="hi a@b.io" x=1"#), r#"msg="hi " x=1"#);
    assert_eq!(with(c, r#"email="a@b.io" x=1"#), "x=1");
    // JSON: the member goes, commas stay right.
    for (line, want) in [
        (r#"{"email":"a@b.io","x":1}"#, r#"{"x":1}"#),
        (r#"{"x":1,"email":"a@b.io"}"#, r#"{"x":1}"#),
        (r#"{"x":1,"email":"a@b.io","y":2}"#, r#"{"x":1,"y":2}"#),
        (r#"{"a":"a@b.io","b":"c@d.io"}"#, r#"{}"#),
        (r#"{ "a" : "a@b.io" , "b" : 1 }"#, r#"{ "b" : 1 }"#),
        (r#"{"u":{"ip":"10.0.0.1","n":1}}"#, r#"{"u":{"n":1}}"#),
        (r#"{"l":["a@b.io",1,"c@d.io"]}"#, r#"{"l":[1]}"#),
        (r#"{"password":{"a":1},"k":2}"#, r#"{"k":2}"#),
    ] {
        let got = with(c, line);
        assert_eq!(got, want, "{line}");
        valid_json(&got);
    }
    // Per-rule modes.
    let c = r#"{"modes":{"email":"drop","credit_card":"partial"}}"#;
    assert_eq!(
        with(
            c,
            r#"{"e":"a@b.io","c":"4111111111111111","ip":"10.0.0.1"}"#
        ),
        r#"{"c":"<credit_card:…1111>","ip":"<ipv4>"}"#
    );
}

// ----- JSON-aware -----

#[test]
fn json_aware() {
    // Escapes inside strings: unescaped, scanned, re-escaped.
    let line = r#"{"msg":"line1\nmail a@b.io \"quoted\" \u00e9","n":1}"#;
    let got = red(line);
    assert_eq!(got, r#"{"msg":"line1\nmail <email> \"quoted\" é","n":1}"#);
    valid_json(&got);
    // \n before a local part is not taken into it.
    let got = red(r#"{"m":"x\nbob@example.com"}"#);
    assert_eq!(got, r#"{"m":"x\n<email>"}"#);
    // Keys are not rewritten; numbers that are cards become strings.
    let got = red(r#"{"a@b.io":1,"card":4111111111111111,"ts":1705312225123}"#);
    assert_eq!(
        got,
        r#"{"a@b.io":1,"card":"<credit_card>","ts":1705312225123}"#
    );
    valid_json(&got);
    // Nested objects and arrays.
    let got = red(r#"{"u":{"emails":["a@b.io",{"ip":"10.0.0.1"}]},"t":[true,null,1.5e3]}"#);
    assert_eq!(
        got,
        r#"{"u":{"emails":["<email>",{"ip":"<ipv4>"}]},"t":[true,null,1.5e3]}"#
    );
    valid_json(&got);
    // Secret keys: whatever the value.
    let got = red(r#"{"password":"x y","api_key":12345,"token":{"a":1},"secret":null,"pwd":""}"#);
    assert_eq!(
        got,
        r#"{"password":"<secret>","api_key":"<secret>","token":"<secret>","secret":null,"pwd":""}"#
    );
    valid_json(&got);
    // An invalid JSON line is redacted as text.
    assert_eq!(
        red(r#"{"a":"b@c.io" trailing"#),
        r#"{"a":"<email>" trailing"#
    );
    // Top-level array.
    assert_eq!(red(r#"["a@b.io"]"#), r#"["<email>"]"#);
}

#[test]
fn json_keys_config() {
    let c = r#"{"json_keys":["dob","customer"]}"#;
    let got = with(c, r#"{"dob":"1980-01-01","Customer":{"name":"x"},"n":1}"#);
    assert_eq!(got, r#"{"dob":"<json_key>","Customer":"<json_key>","n":1}"#);
    valid_json(&got);
    // Also with a rules list that does not name it.
    let c = r#"{"json_keys":["dob"],"rules":["email"]}"#;
    assert_eq!(
        with(c, r#"{"dob":"x","ip":"10.0.0.1"}"#),
        r#"{"dob":"<json_key>","ip":"10.0.0.1"}"#
    );
    // JSON-awareness can be turned off.
    assert_eq!(
        with(r#"{"json":false}"#, r#"{"password":"a b"}"#),
        r#"{"password":"<secret>"}"#
    );
}

#[test]
fn json_pseudonym_and_partial_stay_valid() {
    let line = r#"{"m":"a@b.io\t4111 1111 1111 1111","ip":"::1"}"#;
    for c in [
        r#"{"mode":"pseudonym","pseudonym_key":"k"}"#,
        r#"{"mode":"partial"}"#,
    ] {
        let got = with(c, line);
        valid_json(&got);
        assert!(
            !got.contains("a@b.io") && !got.contains("4111 1111"),
            "{got}"
        );
    }
}

// ----- the precision list -----

#[test]
fn precision_list_untouched() {
    unchanged(r#"{"trace_id":"0af7651916cd43dd8448eb211c80319c","span":"b7ad6b7169203331"}"#);
    unchanged("traceparent 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    unchanged("req 550e8400-e29b-41d4-a716-446655440000 done");
    unchanged("req 12345678-1234-4234-5234-123456789012 done");
    unchanged("md5 d41d8cd98f00b204e9800998ecf8427e sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709");
    unchanged("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    unchanged("SHA256 E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855");
    unchanged("order 4111111111111112 order 9083630838981366 ref 5428343351417194");
    unchanged("2024-01-15T10:23:45.123Z INFO started in 1234ms pid=4242");
    unchanged(r#"{"ts":"2024-01-15T10:23:45.123456789+01:00","port":5432,"status":200}"#);
    unchanged("epoch 1705312225 ms 1705312225123 us 1705312225123456 ns 1705312225123456789");
    unchanged("took 12.5ms 2.5s 1h2m3s 350µs duration=0.004512");
    unchanged("nginx/1.25.3 v2.10.3.1 version 1.2.3.4 build 4.1.0.12");
    unchanged("listening on :8080 and 0.0.0.0x port=443 [24/Nov/2026:10:20:11 +0000]");
    unchanged("commit 9fceb02d0ae598e95dc970b74767f19372d61af8");
}

#[test]
fn host_fixture_unchanged() {
    // host/tests/pipeline.rs compares its fixture byte for byte with the default config.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../host/tests/fixtures/");
    let input = std::fs::read(format!("{dir}app.log")).unwrap();
    let want = std::fs::read_to_string(format!("{dir}app.redacted")).unwrap();
    let input = String::from_utf8_lossy(&input);
    let got: String = input.lines().map(|l| red(l) + "\n").collect();
    assert_eq!(got, want);
}

// ----- counts, fields, config -----

#[test]
fn mixed_line_counts_per_rule() {
    let r = Redactor::default();
    let mut out = String::new();
    let mut counts = r.new_counts();
    let line = r#"{"ts":"2024-01-15T10:23:45Z","msg":"login a@b.io from 10.0.0.7 card 4111111111111111, again c@d.org","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}"#;
    assert_eq!(r.redact_counted(line, &mut out, &mut counts), 4);
    assert_eq!(counts[Rule::Email as usize], 2);
    assert_eq!(counts[Rule::Ipv4 as usize], 1);
    assert_eq!(counts[Rule::CreditCard as usize], 1);
    assert_eq!(
        out,
        r#"{"ts":"2024-01-15T10:23:45Z","msg":"login <email> from <ipv4> card <credit_card>, again <email>","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}"#
    );
    // Escaped strings count too.
    let mut counts = r.new_counts();
    out.clear();
    assert_eq!(
        r.redact_counted(r#"{"m":"a\tb@c.io"}"#, &mut out, &mut counts),
        1
    );
    assert_eq!(counts[Rule::Email as usize], 1);
}

#[test]
fn fields() {
    let r = Redactor::from_config_json(r#"{"json_keys":["user"],"modes":{"ssn":"drop"}}"#).unwrap();
    let mut counts = r.new_counts();
    let mut out = String::new();
    assert_eq!(
        r.redact_field("host", "10.0.0.1", &mut out, &mut counts),
        Field::Replace
    );
    assert_eq!(out, "<ipv4>");
    out.clear();
    assert_eq!(
        r.redact_field("user", "bob", &mut out, &mut counts),
        Field::Replace
    );
    assert_eq!(out, "<json_key>");
    out.clear();
    assert_eq!(
        r.redact_field("password", "x", &mut out, &mut counts),
        Field::Replace
    );
    assert_eq!(out, "<secret>");
    out.clear();
    assert_eq!(
        r.redact_field("version", "1.2.3.4", &mut out, &mut counts),
        Field::Keep
    );
    assert_eq!(
        r.redact_field(
            "trace_id",
            "4bf92f3577b34da6a3ce929d0e0e4736",
            &mut out,
            &mut counts
        ),
        Field::Keep
    );
    assert_eq!(
        r.redact_field("id", "078-05-1120", &mut out, &mut counts),
        Field::Drop
    );
    assert!(out.is_empty());
    assert_eq!(counts[Rule::Ssn as usize], 1);
    assert_eq!(counts[Rule::JsonKey as usize], 1);
}

/// The plugin's per-batch path for metadata values (key kinds looked up once, buffers
/// reused) gives what `redact_field` gives value by value, whatever the order of keys.
#[test]
fn fields_with_remembered_key_kinds_equal_field_by_field() {
    let r = Redactor::from_config_json(r#"{"json_keys":["id"]}"#).unwrap();
    let fields = [
        ("host", "10.0.0.1"),
        ("password", "x"),
        ("version", "1.2.3.4"),
        ("host", "mail bob@example.com"),
        ("id", "078-05-1120"),
        ("version", "10.0.0.1"),
        ("password", ""),
        ("user", "4111 1111 1111 1111 and 10.2.3.4"),
    ];
    let mut kinds = crate::keys::KeyCache::default();
    let mut sc = crate::Scratch::default();
    let (mut counts_a, mut counts_b) = (r.new_counts(), r.new_counts());
    for (key, value) in fields.iter().chain(fields.iter()) {
        let (mut a, mut b) = (String::new(), String::new());
        let field = r.redact_field(key, value, &mut a, &mut counts_a);
        let kind = kinds.kind(&r, key);
        let remembered = r.redact_field_in(kind, value, &mut b, &mut counts_b, &mut sc);
        assert_eq!((field, &a), (remembered, &b), "{key}={value}");
    }
    assert_eq!(counts_a, counts_b);
}

#[test]
fn unicode_is_kept_intact() {
    assert_eq!(
        red("héllo ü@x.de für 10.0.0.1 ✓"),
        "héllo ü@x.de für <ipv4> ✓"
    );
    assert_eq!(red("✓a@x.de✓"), "✓<email>✓");
}

#[test]
fn config() {
    let r = Redactor::from_config_json(r#"{"rules":["email"],"mode":"mask"}"#).unwrap();
    assert_eq!(r.rules(), [Rule::Email]);
    assert_eq!(r.redact_cow("a@b.io 10.0.0.1").as_ref(), "<email> 10.0.0.1");
    let r = Redactor::from_config_json(r#"{"rules":["ipv4","credit_card"]}"#).unwrap();
    assert_eq!(r.redact_cow("a@b.io 10.0.0.1").as_ref(), "a@b.io <ipv4>");
    let all: Vec<Rule> = Rule::ALL
        .into_iter()
        .filter(|r| *r != Rule::JsonKey)
        .collect();
    assert_eq!(Redactor::from_config_json("{}").unwrap().rules(), all);
    assert_eq!(Redactor::from_config_json("").unwrap().rules(), all);
    let r = Redactor::from_config_json(r#"{"disable":["phone","ipv6"]}"#).unwrap();
    assert!(!r.rules().contains(&Rule::Phone) && r.rules().contains(&Rule::Email));
    let e = Redactor::from_config_json(r#"{"rules":["email","nope"]}"#).unwrap_err();
    assert!(e.contains("`nope`"), "{e}");
    let e = Redactor::from_config_json(r#"{"mode":"blur"}"#).unwrap_err();
    assert!(e.contains("`blur`"), "{e}");
    let e = Redactor::from_config_json(r#"{"modes":{"email":"blur"}}"#).unwrap_err();
    assert!(e.contains("`blur`"), "{e}");
    let e = Redactor::from_config_json(r#"{"rule":["email"]}"#).unwrap_err();
    assert!(e.contains("`rule`"), "{e}");
    assert!(Redactor::from_config_json(r#"{"rules":"email"}"#).is_err());
    assert!(Redactor::from_config_json(r#"{"json":"yes"}"#).is_err());
    // The key never shows in Debug output.
    let r =
        Redactor::from_config_json(r#"{"mode":"hash","pseudonym_key":"topsecretkey"}"#).unwrap();
    assert!(!format!("{r:?}").contains("topsecretkey"));
}

#[test]
fn luhn_and_mod97_known_values() {
    assert!(luhn(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 3]));
    assert!(!luhn(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 4]));
    assert!(rules::iban::mod97(b"GB82WEST12345698765432"));
    assert!(!rules::iban::mod97(b"GB82WEST12345698765433"));
}

#[test]
fn throughput_smoke() {
    // Not a benchmark: a sanity check that a typical ~215-byte JSON line is cheap natively.
    let line = r#"{"ts":"2024-01-15T10:23:45.123Z","level":"info","msg":"user alice@example.com logged in from 192.168.10.42","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","latency_ms":123,"status":200}"#;
    let r = Redactor::default();
    let mut out = String::new();
    let mut counts = r.new_counts();
    let t = std::time::Instant::now();
    for _ in 0..20_000 {
        out.clear();
        assert_eq!(
            r.redact_counted(std::hint::black_box(line), &mut out, &mut counts),
            2
        );
    }
    eprintln!(
        "{} bytes/line: {:?} per line",
        line.len(),
        t.elapsed() / 20_000
    );
}

/// The JSON fast path (one text scan of an escape-free JSON line) gives exactly what the
/// JSON walker gives, for the rules it applies to, on lines of every shape. (On a line that
/// only looks like JSON, a match that is a bare token is quoted by the fast path, where the
/// walker's plain-text fallback leaves it bare; both are redacted.)
#[test]
fn json_fast_path_matches_the_walker() {
    let config = r#"{"rules": ["email", "ipv4", "ipv6", "credit_card", "iban", "ssn", "phone", "jwt", "aws_access_key", "github_token", "slack_token", "url_credentials"]}"#;
    let fast = Redactor::from_config_json(config).unwrap();
    let mut walker = fast.clone();
    walker.json_fast = false;
    let lines = [
        r#"{"ts":"2026-11-24T00:55:35Z","email":"a.b@example.com","client_ip":"10.1.2.3","trace_id":"c386bbc4cd613e30d8f16adf91b7584a"}"#,
        r#"{"msg": "login a@example.org from 192.168.0.1", "status": 500, "duration_ms": 12.5}"#,
        r#"{"card": 4111111111111111, "order": 4111111111111112, "n": [41111111, 5555555555554444]}"#,
        r#"{"version": "1.2.3.4", "app_version":"10.0.0.1", "ip": "10.0.0.1"}"#,
        r#"{"a@example.com": "key is an email", "x": {"y": ["b@example.com", 1, null, true]}}"#,
        r#"[{"ip":"::1"}, "2001:db8::1", "+14155552671", "555-12-3456"]"#,
        r#"{"iban": "GB82 WEST 1234 5698 7654 32", "aws": "AKIAIOSFODNN7EXAMPLE"}"#,
        r#"{"url": "https://user:pw@host.example.com/x", "ssn": "123-45-6789"}"#,
        r#"{"broken": "a@example.com""#,
        r#"{"n":4111111111111111}"#,
        r#"{"escaped": "a"b@example.com", "e2": "c@example.com"}"#,
        r#"{"phone":"4155552671","mobile": "+1 415 555 2671","n":"415-555-2671"}"#,
        r#"{"app_version":"v 10.0.0.1 on 10.0.0.2","msg":"release 1.2.3.4"}"#,
        r#"{"password":"hunter two","token":12345678,"auth":{"secret":"x"},"ok":true}"#,
        r#"{"Authorization":"Bearer abc.def","h":"Authorization: Basic dXNlcjpwdw=="}"#,
        r#"{"msg":"token=abc password: x","url":"https://u:p@example.com","ts":"12:00:01"}"#,
        r#"{"id":"fe80::1","v6":"2001:db8::8a2e:370:7334","mac":"ab:cd:ef:01:02:03"}"#,
        r#"{"key" : "v", "password" :"spaced", "n": [4111111111111111]}"#,
    ];
    // Lines around and past the 1024 bytes the fast path reads its quotes and backslashes
    // from in one pass with the candidates; longer ones use passes of their own.
    let long: Vec<String> = [1000, 1011, 1012, 1013, 1100, 2500]
        .into_iter()
        .flat_map(|pad| {
            let p = "p ".repeat(pad / 2);
            [
                format!(r#"{{"pad":"{p}","email":"x@example.com","ip":"10.0.0.1","n":4111111111111111}}"#),
                format!(r#"{{"ip":"10.0.0.2","pad":"{p}","q":"say \"hi\" to a@example.com"}}"#),
                format!(r#"{{"a@example.com":"{p}","ip":"10.0.0.3"}}"#),
            ]
        })
        .collect();
    // The every-rule default reads keys (`secret`, `authorization`, phone and version
    // names): its text scan runs only on lines whose keys are all ordinary.
    let default_fast = Redactor::default();
    let default_walker = Redactor::default().without_fast_paths();
    for line in lines.iter().copied().chain(long.iter().map(String::as_str)) {
        let a = fast.redact_cow(line).into_owned();
        let b = walker.redact_cow(line).into_owned();
        assert_eq!(a, b, "fast path and walker differ on {line}");
        let a = default_fast.redact_cow(line).into_owned();
        let b = default_walker.redact_cow(line).into_owned();
        assert_eq!(a, b, "every rule: fast path and walker differ on {line}");
    }
    for line in &long {
        let a = fast.redact_cow(line);
        assert!(
            !a.contains("10.0.0.") && a.contains("<ipv4>"),
            "not redacted: {a}"
        );
    }
}

/// The audit trail names the rule and byte span of each replacement, never the value, for
/// text lines, JSON lines (fast path and walker) and whole-string rewrites.
#[test]
fn audit_lists_rule_and_span_never_the_value() {
    let r = Redactor::from_config_json(r#"{"audit": true}"#).unwrap();
    assert!(r.audits());
    let mut counts = r.new_counts();
    let (mut out, mut audit) = (String::new(), String::new());
    let line = "login a@example.com from 10.1.2.3";
    r.redact_audited(line, &mut out, &mut counts, &mut audit);
    assert_eq!(audit, "email@6-19,ipv4@25-33");
    assert_eq!(&line[6..19], "a@example.com");
    let json = r#"{"msg":"from 10.1.2.3","password":"hunter2"}"#;
    out.clear();
    r.redact_audited(json, &mut out, &mut counts, &mut audit);
    assert!(
        !audit.contains("hunter2") && !audit.contains("10.1.2.3"),
        "{audit}"
    );
    assert!(audit.starts_with("ipv4@13-21,secret@"), "{audit}");
    out.clear();
    r.redact_audited("nothing here", &mut out, &mut counts, &mut audit);
    assert!(audit.is_empty());
    assert!(Redactor::from_config_json(r#"{"audit": "yes"}"#).is_err());
}

#[test]
fn series_label_values_are_redacted_but_series_identity_is_kept() {
    let r = Redactor::from_config(&serde_json::Map::new()).unwrap();
    let mut counts = r.new_counts();
    let mut set: Vec<(String, String)> = [
        ("__name__", "logins_total"),
        ("client", "10.9.8.7"),
        ("instance", "10.0.0.1:9100"),
        ("job", "app"),
        ("password", "hunter2"),
        ("user", "bob@example.com"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert!(r.redact_series(&mut set, &mut counts));
    let text = format!("{set:?}");
    assert!(
        !text.contains("bob@example.com") && !text.contains("10.9.8.7"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    assert!(
        text.contains("10.0.0.1:9100") && text.contains("logins_total"),
        "{text}"
    );
    assert!(counts.iter().sum::<u64>() >= 2);
}

#[test]
fn phones_a_strict_validator_rejects_are_still_phones() {
    for line in [
        "call (123) 456-7890 now",
        "call 123-456-7890 now",
        "call 1 (415) 555-2671 now",
        "call 555-123-4567 x123 now",
        "call 555-123-4567 ext. 89 now",
        "call 555-123-4567, extension 4411 now",
        "call +1 415-555-2671 ext 9 now",
        "call 00 44 20 7946 0958 now",
        "call 0044 20 7946 0958 now",
        "call (415) 5552671 now",
        "call +61 4 1234 5678 now",
    ] {
        assert_eq!(red(line), "call <phone> now", "{line}");
    }
    // A phone-named key makes a bare number a phone; other keys do not.
    assert_eq!(red(r#"{"phone":"4155552671"}"#), r#"{"phone":"<phone>"}"#);
    assert_eq!(red(r#"{"phone":4155552671}"#), r#"{"phone":"<phone>"}"#);
    assert_eq!(
        red(r#"{"homePhone":"(415) 555 2671"}"#),
        r#"{"homePhone":"<phone>"}"#
    );
    assert_eq!(
        red(r#"{"mobile_number":"07700900123"}"#),
        r#"{"mobile_number":"<phone>"}"#
    );
    assert_eq!(red(r#"{"tel":"+4930123456"}"#), r#"{"tel":"<phone>"}"#);
    for keep in [
        r#"{"order_number":"4155552671"}"#,
        r#"{"phone":"n/a"}"#,
        r#"{"phone":"12345"}"#,
        r#"{"phone_verified":true}"#,
        r#"{"telemetry":"4155552671"}"#,
        "id 4155552671 done",
        "order 123-4567 shipped",
        "ref=0033669753107160 ok",
        r#"{"order_id":"0014405721879149"}"#,
        "build 2024-12-07 ok",
    ] {
        unchanged(keep);
    }
    assert_eq!(
        red("call 555-123-4567 x now"),
        "call <phone> x now",
        "no digits: no extension"
    );
    assert!(
        json::is_phone_key("cell")
            && json::is_phone_key("FAX")
            && json::is_phone_key("contact-phone-number")
    );
    assert!(!json::is_phone_key("telephony_errors") && !json::is_phone_key("cellular"));
}

#[test]
fn private_keys_api_tokens_and_connection_string_secrets() {
    for (line, want) in [
        (
            r"key -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7\n-----END RSA PRIVATE KEY----- done",
            "key <private_key> done",
        ),
        (
            r"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----",
            "<private_key>",
        ),
        (
            r"k=-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0w (truncated)",
            "k=<private_key>",
        ),
        (
            "gcp key AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe used",
            "gcp key <api_token> used",
        ),
        ("gitlab glpat-aB3dE5fG7hJ9kL1mN3pQ done", "gitlab <api_token> done"),
        ("hf hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 done", "hf <api_token> done"),
        (
            "sendgrid SG.abcdefghijklmnopqrstuv.ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq done",
            "sendgrid <api_token> done",
        ),
        (
            "conn Server=db;User Id=sa;Password=Hunter2!x;Encrypt=true",
            "conn Server=db;User Id=sa;Password=<secret>;Encrypt=true",
        ),
        (
            "AccountName=acct;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;EndpointSuffix=core.windows.net",
            "AccountName=acct;AccountKey=<secret>;EndpointSuffix=core.windows.net",
        ),
        (
            "SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=Wq9Nf8mX3kL2pQ7rT1vY5zA8bC4dE6fG0hJ2kL4mN6o=",
            "SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=<secret>",
        ),
    ] {
        assert_eq!(red(line), want, "{line}");
    }
    // In JSON, under a key that is not a secret name: the unescaped value is scanned.
    assert_eq!(
        red(
            r#"{"data":"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIA\n-----END EC PRIVATE KEY-----\n","n":1}"#
        ),
        r#"{"data":"<private_key>\n","n":1}"#
    );
    for keep in [
        r"cert -----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE\n-----END CERTIFICATE-----",
        r"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYI\n-----END PUBLIC KEY-----",
        "----- section -----",
        "AIzaShort and AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQeX",
        "glpat-short hf_hub_download SG.abc.def",
        "called hf_transfer_module_version_check ok",
    ] {
        unchanged(keep);
    }
}

/// The JSON walker skips number tokens shorter than `SHORTEST_NUMBER_MATCH` without
/// scanning them: no built-in rule matches such a token whole. Every token of up to 6 bytes
/// over digits of each role (0, 1, 5, 9: prefixes, area codes, Luhn) and the other bytes a
/// number token has.
#[test]
fn no_rule_matches_a_number_token_shorter_than_the_shortest() {
    let r = Redactor::default();
    let alphabet = b"01259.-+e";
    let mut token = Vec::new();
    let mut matches = Vec::new();
    for len in 1..crate::json::SHORTEST_NUMBER_MATCH {
        let total = alphabet.len().pow(len as u32);
        for mut k in 0..total {
            token.clear();
            for _ in 0..len {
                token.push(alphabet[k % alphabet.len()]);
                k /= alphabet.len();
            }
            let text = std::str::from_utf8(&token).unwrap();
            matches.clear();
            r.scan(text, Ctx::default(), &mut matches);
            assert!(
                !matches.iter().any(|m| m.start == 0 && m.end == len),
                "{text} matched whole: {matches:?}"
            );
        }
    }
}

/// The key filters never turn away a key with a meaning: whenever `KeySuffixes` calls a key
/// ordinary, `key_kind` agrees, and whenever the secret pair filter rules a key out,
/// `SecretKeys::matches` does too; over every default secret name, phone, version and
/// authorization word in several spellings, a configured `json_keys` entry, and random
/// keys built from their pieces.
#[test]
fn key_filters_never_turn_away_a_meaningful_key() {
    let r = Redactor::from_config_json(r#"{"json_keys": ["userName", "x"]}"#).unwrap();
    let mut words: Vec<String> = rules::secrets::DEFAULT_SECRET_KEYS
        .iter()
        .map(|s| s.to_string())
        .collect();
    words.extend(
        [
            "phone",
            "mobile",
            "fax",
            "number",
            "tel",
            "cell",
            "msisdn",
            "version",
            "ver",
            "release",
            "build",
            "rev",
            "authorization",
            "username",
            "x",
            "ts",
            "msg",
            "level",
            "status",
            "req_id",
            "path",
        ]
        .map(String::from),
    );
    let mut keys = Vec::new();
    for w in &words {
        let camel: String = w
            .split('_')
            .enumerate()
            .map(|(i, p)| {
                if i == 0 {
                    p.to_string()
                } else {
                    p[..1].to_uppercase() + &p[1..]
                }
            })
            .collect();
        for k in [
            w.clone(),
            w.to_uppercase(),
            camel.clone(),
            format!("app_{w}"),
            format!("app-{camel}"),
            format!("x.{w}"),
            format!("{w}_"),
            format!("{w}2"),
            format!("my {w}"),
        ] {
            keys.push(k);
        }
    }
    let mut x = 12345u32;
    for _ in 0..20_000 {
        let mut k = String::new();
        for _ in 0..1 + (x % 3) {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            let w = &words[(x >> 8) as usize % words.len()];
            let cut = (x >> 20) as usize % (w.len() + 1);
            k.push_str(&w[cut..]);
            if x & 1 == 0 {
                k.push('_');
            }
        }
        keys.push(k);
    }
    let suffixes = crate::keys::KeySuffixes::of(&r);
    for key in &keys {
        let plain = matches!(
            r.key_kind(key),
            crate::json::KeyKind::Scan(Ctx { version: false })
        );
        assert!(
            plain || suffixes.may_be_special(key.as_bytes()),
            "{key} has a meaning but the suffix filter calls it ordinary"
        );
        let b = key.as_bytes();
        if b.len() >= 2 && r.secret_keys.matches(b) {
            assert!(
                !b[b.len() - 2].is_ascii_alphanumeric()
                    || !b[b.len() - 1].is_ascii_alphanumeric()
                    || r.secret_keys
                        .may_end_with_pair(b[b.len() - 2], b[b.len() - 1]),
                "{key} names a secret but the pair filter rules it out"
            );
        }
    }
}

/// Skipping ISO timestamps whole (`Redactor::clean_timestamp_end`) finds what scanning
/// them finds: timestamps of every shape (T or space, seconds, fractions, years and hours
/// that look like card, phone or SSN starts, time zones) in text and JSON, before and
/// after what rules match, under configs whose secret names end in digits.
#[test]
fn skipping_timestamps_changes_no_output() {
    let configs = [
        "{}",
        r#"{"extra_secret_keys": ["t12", "x00", "59"]}"#,
        r#"{"rules": ["phone", "ipv6", "credit_card", "ssn", "ipv4"]}"#,
        r#"{"mode": "drop"}"#,
    ];
    let dates = [
        "2025-11-24",
        "0999-01-02",
        "1999-12-31",
        "4111-11-11",
        "5555-00-00",
    ];
    let times = [
        "12:00",
        "00:59",
        "23:59:59",
        "12:00:00.000",
        "07:08:09.123456789",
        "10:20:30.",
    ];
    let before = ["", "x ", "ts=", "\"", "at:", ".", "-", "1", "a"];
    let after = [
        "",
        "Z",
        "+05:30",
        "-0700",
        " 4111 1111 1111 1111",
        ":00:00:00:00:00",
        "1",
        " a@example.com",
        "@example.com",
        ",123 INFO",
        " 10.1.2.3",
        "::1",
        "::",
        ":1",
        ".1.2.3",
        "-05:00",
        "+1 415 555 2671",
        " password=x",
        ":password",
    ];
    for config in configs {
        let r = Redactor::from_config_json(config).unwrap();
        let reference = r.clone().without_fast_paths();
        for d in dates {
            for sep in ['T', ' '] {
                for t in times {
                    for pre in before {
                        for post in after {
                            let ts = format!("{pre}{d}{sep}{t}{post}");
                            for line in [format!("{ts} done"), format!(r#"{{"ts":"{ts}","n":1}}"#)]
                            {
                                assert_eq!(
                                    r.redact_cow(&line),
                                    reference.redact_cow(&line),
                                    "{config}: {line}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A `connection_string` key's value is a secret whole, in JSON and as `key=value`; keys
/// that only end alike are kept.
#[test]
fn connection_strings_are_secrets() {
    let json = r#"{"connection_string":"Server=db;User Id=app;Password=hunter2;","msg":"ok"}"#;
    assert_eq!(red(json), r#"{"connection_string":"<secret>","msg":"ok"}"#);
    let camel = r#"{"ConnectionString":"Server=db;Password=x","string":"keep me"}"#;
    assert_eq!(
        red(camel),
        r#"{"ConnectionString":"<secret>","string":"keep me"}"#
    );
    assert_eq!(
        red("db_connection_string=abc rest"),
        "db_connection_string=<secret> rest"
    );
    assert_eq!(red("logging=on"), "logging=on");
}

/// Random short texts built from the pieces rules start at (as metadata values, label
/// values and slices of JSON strings are): every scan ends without a panic (a trap, in the
/// plugin) and its matches lie inside the text, in order, without overlaps. (It found an
/// out-of-bounds read in `preceded_by_version` for an address after only separators.)
#[test]
fn random_short_texts_scan_cleanly() {
    let r = Redactor::default();
    let pieces = [
        "a@b.io",
        "10.1.2.3",
        "::1",
        "fe80::1",
        "+14155552671",
        "(415) 555-2671",
        " ",
        "-",
        ".",
        ":",
        "=",
        "x",
        "Bearer abc",
        "AKIAIOSFODNN7EXAMPLE",
        "4111 1111 1111 1111",
        "078-05-1120",
        "pass=",
        "%40",
        "é",
        "GB82WEST12345698765432",
        "eyJ",
        "00 44 20 7946 0958",
        "2025-11-24T12:00",
        "\"",
        "version ",
        "1.2",
        "'",
    ];
    let mut x = 99u32;
    let mut matches = Vec::new();
    for _ in 0..100_000 {
        let mut s = String::new();
        while s.len() < 48 {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            let piece = pieces[(x >> 16) as usize % pieces.len()];
            if s.len() + piece.len() > 48 {
                break;
            }
            s.push_str(piece);
        }
        matches.clear();
        r.scan(&s, Ctx::default(), &mut matches);
        let mut end = 0;
        for m in &matches {
            assert!(
                end <= m.start && m.start < m.end && m.end <= s.len(),
                "{s}: {matches:?}"
            );
            end = m.end;
        }
        let _ = r.redact_cow(&s);
    }
}

/// A text of up to 64 bytes is scanned with [`crate::candidates::short_candidates`] instead
/// of a [`Candidates`] window: the candidates and the matches are the same, over slices of
/// every length up to 64 from every position of both PII corpora (their values and the
/// JSON around them, cut anywhere), with every rule on and with the JSON keys and
/// version words that change a scan's context.
#[test]
fn short_texts_scan_as_the_window_does() {
    let corpora = [
        include_str!("../../../tests/pii/dev.jsonl"),
        include_str!("../../../tests/pii/variants.jsonl"),
    ];
    let redactors = [
        Redactor::default(),
        Redactor::from_config_json(r#"{"rules": ["phone", "ipv4", "secret"]}"#).unwrap(),
    ];
    let mut x = 7u32;
    let (mut short, mut window) = (Vec::new(), Vec::new());
    let (mut slices, mut matched) = (0, 0);
    for text in corpora {
        let mut start = 0;
        while start < text.len() {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            let mut end = (start + 1 + (x >> 16) as usize % 64).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            if text.is_char_boundary(start) && end > start {
                let s = &text[start..end];
                let mut c = Candidates::new();
                let mut expected = 0u64;
                let mut i = c.next(&redactors[0].triggers, s.as_bytes(), 0);
                while i < s.len() {
                    expected |= 1 << i;
                    i = c.next(&redactors[0].triggers, s.as_bytes(), i + 1);
                }
                assert_eq!(
                    crate::candidates::short_candidates(&redactors[0].triggers, s.as_bytes()),
                    expected,
                    "{s:?}"
                );
                for r in &redactors {
                    for ctx in [Ctx::default(), Ctx { version: true }] {
                        short.clear();
                        window.clear();
                        r.scan(s, ctx, &mut short);
                        r.scan_with(s, ctx, &mut window, &mut Candidates::new());
                        assert_eq!(format!("{short:?}"), format!("{window:?}"), "{s:?}");
                        matched += !short.is_empty() as usize;
                    }
                }
                slices += 1;
            }
            start += 1 + (x >> 28) as usize % 5;
        }
    }
    assert!(
        slices > 100_000 && matched > 10_000,
        "{slices} slices, {matched} with matches"
    );
}
