/**
 * Runnel from TypeScript: produce keyed records, consume them as a member
 * of a group, commit, and resume where the group left off.
 *
 *   npm ci && npx tsc -p tsconfig.json               # at the repository root
 *   node dist-ts/examples/ts/roundtrip.js [BROKER]   # default 127.0.0.1:7400
 */
import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";

import { RunnelClient, type Message } from "../../sdk/ts/src/client.js";

export interface Result {
  topic: string;
  first: Message[];
  rest: Message[];
  notFound: Code | undefined;
}

export async function run(address: string): Promise<Result> {
  const topic = "orders-" + randomUUID().slice(0, 8);
  const client = new RunnelClient(address);
  await client.createTopic(topic, 3);

  // Produce: ten records over three keys, each with a header.
  const producer = client.producer(topic);
  for (let i = 0; i < 10; i++) {
    void producer.send(`order ${i}`, { key: `customer-${i % 3}`, headers: [["source", "typescript"]] });
  }
  await producer.close();

  // Consume six records as a member of group "billing", commit, stop. The
  // broker assigns the member every partition (it is alone in the group);
  // leaving the loop keeps its stream, so it commits as that member.
  const first = client.consumer(topic, "billing");
  const seen: Message[] = [];
  for await (const m of first) {
    seen.push(m);
    if (seen.length === 6) break;
  }
  await first.commit();
  first.close();

  // A reader of the group's partitions (manual assignment: no membership)
  // resumes after what was committed, and stops at the end.
  const rest: Message[] = [];
  for await (const m of client.consumer(topic, "billing", { partitions: [0, 1, 2], follow: false })) rest.push(m);

  // Errors are gRPC status codes.
  let notFound: Code | undefined;
  try {
    for await (const _ of client.consumer("no-such-topic", "billing", { follow: false })) void _;
  } catch (e) {
    notFound = ConnectError.from(e).code;
  }
  client.close();
  return { topic, first: seen, rest, notFound };
}

const isMain = process.argv[1]?.endsWith("roundtrip.js");
if (isMain) {
  const result = await run(process.argv[2] ?? "127.0.0.1:7400");
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  for (const [label, msgs] of [["first", result.first], ["rest", result.rest]] as const) {
    for (const m of msgs) {
      console.log(`${label}: partition ${m.partition} offset ${m.offset} key=${text(m.key)} value=${text(m.value)} ` +
        `headers=${m.headers.map(([k, v]) => `${k}=${text(v)}`).join(",")}`);
    }
  }
  console.log("an unknown topic gives", Code[result.notFound!]);
}
