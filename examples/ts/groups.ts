/**
 * Runnel from TypeScript: two members of group "billing" split a topic's
 * partitions between them, and group "audit" reads every record.
 *
 *   npm ci && npx tsc -p tsconfig.json               # at the repository root
 *   node dist-ts/examples/ts/groups.js [BROKER]      # default 127.0.0.1:7400
 *
 * The broker assigns the partitions (each to one member of a group) and
 * tells each member with an assignment event; the SDK passes every event to
 * onAssignment.
 */
import { randomUUID } from "node:crypto";

import { RunnelClient, type Assignment, type Message } from "../../sdk/ts/src/client.js";

export const RECORDS = 20;

export interface Member {
  memberId: string;
  partitions: number[];
  messages: Message[];
}

export interface Result {
  topic: string;
  produced: number;
  members: Member[];
  audit: Message[];
}

async function until(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function run(address: string, timeoutMs = 30_000): Promise<Result> {
  const topic = "orders-" + randomUUID().slice(0, 8);
  const client = new RunnelClient(address);
  await client.createTopic(topic, 4);

  // Two members of "billing", each consuming in its own loop.
  const onAssignment = (a: Assignment) =>
    console.log(`member ${a.memberId.slice(0, 8)} epoch ${a.memberEpoch}: owns [${a.partitions[topic] ?? []}], ` +
      `lost [${a.revoked[topic] ?? []}]`);
  const members = [0, 1].map(() => client.consumer(topic, "billing", { onAssignment }));
  const received: Message[][] = [[], []];
  const loops = members.map(async (consumer, i) => {
    for await (const m of consumer) received[i].push(m);
  });
  const owned = (i: number) => members[i].assignment?.partitions[topic] ?? [];

  // Wait until the broker has split the partitions: 2 each.
  await until("split", () => owned(0).length === 2 && owned(1).length === 2, timeoutMs);

  // Produce: keyed records, spread over the partitions.
  const producer = client.producer(topic);
  for (let i = 0; i < RECORDS; i++) void producer.send(`order ${i}`, { key: `customer-${i}` });
  await producer.close();

  // Between them, the members get every record once.
  await until("records", () => received[0].length + received[1].length >= RECORDS, timeoutMs);
  const split = members.map((c, i) => ({ memberId: c.assignment!.memberId, partitions: owned(i), messages: [...received[i]] }));
  for (const c of members) {
    await c.commit(); // as the member it is: its id and epoch
    c.close();
  }
  await Promise.all(loops);

  // Another group reads every record, whatever "billing" did.
  const audit: Message[] = [];
  for await (const m of client.consumer(topic, "audit", { follow: false })) audit.push(m);
  client.close();
  return { topic, produced: RECORDS, members: split, audit };
}

const isMain = process.argv[1]?.endsWith("groups.js");
if (isMain) {
  const result = await run(process.argv[2] ?? "127.0.0.1:7400");
  for (const m of result.members) {
    console.log(`billing member ${m.memberId.slice(0, 8)} read partitions [${m.partitions}]: ${m.messages.length} records`);
  }
  console.log(`audit read ${result.audit.length} records`);
}
