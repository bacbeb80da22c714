//! The active KRaft controller of a remote cluster, asked over Kafka's wire protocol with one
//! DescribeQuorum request (brokers forward it to the controller quorum). librdkafka cannot
//! tell: a KRaft broker answers Metadata's and DescribeCluster's controller id with a random
//! live broker. Only plaintext listeners are supported; the local backend reads the quorum
//! state from the nodes' disks instead.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use rdkafka::config::ClientConfig;

use crate::error::{Error, Result};

const DESCRIBE_QUORUM: i16 = 55;
const METADATA_TOPIC: &str = "__cluster_metadata";

/// The node id of the quorum leader (the active controller), asked of the first bootstrap
/// server that answers.
pub fn describe_quorum_leader(base: &ClientConfig, timeout: Duration) -> Result<i32> {
    let protocol = base.get("security.protocol").unwrap_or("plaintext").to_ascii_lowercase();
    if protocol != "plaintext" {
        return Err(Error::Usage(format!(
            "finding the active controller needs a plaintext listener (DescribeQuorum is sent without {protocol}); target the node by id instead"
        )));
    }
    let servers = base.get("bootstrap.servers").unwrap_or_default().to_string();
    let mut last = String::from("no bootstrap servers");
    for server in servers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match ask(server, timeout) {
            Ok(id) => return Ok(id),
            Err(e) => last = format!("{server}: {e}"),
        }
    }
    Err(Error::Failed(format!("could not ask the cluster for its active controller (DescribeQuorum): {last}")))
}

fn ask(server: &str, timeout: Duration) -> std::io::Result<i32> {
    let addr = server
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{server} resolves to no address")))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(&request(1))?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > 1 << 20 {
        return Err(std::io::Error::other(format!("implausible response size {len}")));
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    parse_leader(&body, 1).map_err(std::io::Error::other)
}

/// A DescribeQuorum v0 request (a flexible version: compact strings and arrays, tagged
/// fields) for partition 0 of the metadata topic, with its length prefix.
fn request(correlation: i32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&DESCRIBE_QUORUM.to_be_bytes());
    b.extend_from_slice(&0i16.to_be_bytes());
    b.extend_from_slice(&correlation.to_be_bytes());
    let client = b"aftershock";
    b.extend_from_slice(&(client.len() as i16).to_be_bytes());
    b.extend_from_slice(client);
    b.push(0); // header tagged fields
    b.push(2); // topics: one (compact arrays store length + 1)
    b.push(METADATA_TOPIC.len() as u8 + 1);
    b.extend_from_slice(METADATA_TOPIC.as_bytes());
    b.push(2); // partitions: one
    b.extend_from_slice(&0i32.to_be_bytes());
    b.push(0); // partition tagged fields
    b.push(0); // topic tagged fields
    b.push(0); // body tagged fields
    let mut out = (b.len() as u32).to_be_bytes().to_vec();
    out.extend(b);
    out
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let s = self.b.get(self.at..self.at + n).ok_or("response too short")?;
        self.at += n;
        Ok(s)
    }
    fn i16(&mut self) -> Result<i16, String> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into().map_err(|_| "short")?))
    }
    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().map_err(|_| "short")?))
    }
    fn uvarint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("bad varint".into())
    }
    fn skip_tags(&mut self) -> Result<(), String> {
        for _ in 0..self.uvarint()? {
            self.uvarint()?;
            let n = self.uvarint()? as usize;
            self.take(n)?;
        }
        Ok(())
    }
}

/// The leader id from a DescribeQuorum v0 response body (after the length prefix).
fn parse_leader(body: &[u8], correlation: i32) -> Result<i32, String> {
    let mut r = Reader { b: body, at: 0 };
    if r.i32()? != correlation {
        return Err("response to another request".into());
    }
    r.skip_tags()?;
    let err = r.i16()?;
    if err != 0 {
        return Err(format!("DescribeQuorum failed with Kafka error code {err}"));
    }
    if r.uvarint()? < 2 {
        return Err("no topic in the answer".into());
    }
    let name_len = r.uvarint()?.saturating_sub(1) as usize;
    r.take(name_len)?;
    if r.uvarint()? < 2 {
        return Err("no partition in the answer".into());
    }
    let _partition = r.i32()?;
    let perr = r.i16()?;
    if perr != 0 {
        return Err(format!("DescribeQuorum failed for the metadata partition with Kafka error code {perr}"));
    }
    let leader = r.i32()?;
    if leader < 0 {
        return Err("the quorum has no leader right now".into());
    }
    Ok(leader)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_length_prefixed_and_names_the_metadata_partition() {
        let r = request(7);
        assert_eq!(u32::from_be_bytes(r[..4].try_into().unwrap()) as usize, r.len() - 4);
        assert_eq!(&r[4..6], &55i16.to_be_bytes());
        assert!(r.windows(METADATA_TOPIC.len()).any(|w| w == METADATA_TOPIC.as_bytes()));
    }

    #[test]
    fn a_response_yields_its_leader_and_errors_are_reported() {
        let mut b = Vec::new();
        b.extend_from_slice(&1i32.to_be_bytes());
        b.push(0);
        b.extend_from_slice(&0i16.to_be_bytes());
        b.push(2);
        b.push(METADATA_TOPIC.len() as u8 + 1);
        b.extend_from_slice(METADATA_TOPIC.as_bytes());
        b.push(2);
        b.extend_from_slice(&0i32.to_be_bytes());
        b.extend_from_slice(&0i16.to_be_bytes());
        b.extend_from_slice(&3i32.to_be_bytes());
        b.extend_from_slice(&[0; 16]);
        assert_eq!(parse_leader(&b, 1), Ok(3));
        assert!(parse_leader(&b, 2).is_err());
        let mut bad = b.clone();
        bad[5..7].copy_from_slice(&35i16.to_be_bytes());
        assert!(parse_leader(&bad, 1).unwrap_err().contains("35"));
        assert!(parse_leader(&b[..10], 1).is_err());
    }
}
