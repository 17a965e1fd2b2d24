/**
 * Applied migrations never change: each one's text is pinned by its SHA-256, so a change of the
 * rollup columns (or anything else) cannot rewrite a migration a database has already run.
 * @module
 */
import assert from "node:assert/strict";
import { postgresMigrations } from "../../db/migrations/postgres.ts";
import { sqliteMigrations } from "../../db/migrations/sqlite.ts";

/** SHA-256 of each applied migration's SQL, per dialect and version. */
const APPLIED: Record<string, Record<number, string>> = {
  postgres: {
    1: "71aa0e3c63651857fbb6e8fd222635549aa231be419201da5ffcb7c4c023cf89",
    2: "cedf1786ae7f25a3c84ba2f9125b5a758cb932d8eba69d4658beea21a351bc9f",
    3: "4d6a653d746883cbe90c201b76e075221db8e571afc7b2f5582d9b2f227d738e",
    4: "166f32c2c30c96a7cf5e50d44ab5f08d4620cbc981457ae9c30a0f5ad1c2bf89",
    5: "71fc4f9cf1282f22f725db8874a7447bdf4fabeef74bbd3f9982055c8c192ff8",
    6: "365196d901182c1538988aecd4dc1edaf97751c21ef592ae6f044b454da299e8",
    7: "bc3a3570b0934dd9ced71e7effab33343354d5ad654ce906dd5450f47e9e0af0",
    8: "2a91cc0fd531d9441a4c929da7981b8fcd4027bdff6b84ef9584c64ea0d86771",
    9: "1a0ca871bc4f01cfcfe58c487d4f228489b57a818ff4dfd9a377cd1b9d0b6bc3",
    10: "43981c2d558d47e1931927d995d8aaabab252929eb21b6b6e21cb9ff94256864",
    11: "4b23052458d3c844119995f8d72d64c153872c804c83de8e4286649a2881ec08",
  },
  sqlite: {
    1: "61ac650c3db573ed1780abd63165102fb13dc353e04a1cfc565e2fe54b4ceac9",
    2: "f3ef32a35b0fbad48296e604780c03454a0bd4832be3e575e0a5c471300cdc88",
    3: "6a2e57b81dd52af9637d964808c6f249a7e943b69244312d71759ef459f9b3f1",
    4: "4812dc0acfb596a8e732b07317320bbd8cc59dff56a7bef4fb0441f4ed7f8296",
    5: "3ef92c28d18149feb54348952c4c8bb27d11ec5b94c55d96521b2cec619f9616",
    6: "365196d901182c1538988aecd4dc1edaf97751c21ef592ae6f044b454da299e8",
    7: "402bd4e278912b754f0b0fd574292fb5cdd2f891a61ee2509467441be2a282e0",
    8: "7425dbac03ad2d1b4de8f44209d112f24a4e43225fe7b0b749d9fe736e6986d7",
    9: "1a0ca871bc4f01cfcfe58c487d4f228489b57a818ff4dfd9a377cd1b9d0b6bc3",
    10: "43981c2d558d47e1931927d995d8aaabab252929eb21b6b6e21cb9ff94256864",
    11: "4b23052458d3c844119995f8d72d64c153872c804c83de8e4286649a2881ec08",
    12: "7bdd36cd3d64e74cfe0845d865f1a5d6832075edfedca82c654c66ce2ffc76e1",
  },
};

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

for (
  const [dialect, migrations] of [["postgres", postgresMigrations], [
    "sqlite",
    sqliteMigrations,
  ]] as const
) {
  Deno.test(`[${dialect}] applied migrations are unchanged, byte for byte`, async () => {
    for (const [version, hash] of Object.entries(APPLIED[dialect])) {
      const m = migrations.find((m) => m.version === Number(version));
      assert.ok(m, `migration ${version} is still there`);
      assert.equal(await sha256(m.sql), hash, `migration ${version} was edited`);
    }
  });

  Deno.test(`[${dialect}] migration versions are 1, 2, 3… with no gap`, () => {
    assert.deepEqual(migrations.map((m) => m.version), migrations.map((_, i) => i + 1));
  });
}
