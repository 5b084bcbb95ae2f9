'use client';

export function Brand() {
  return (
    <div className="mb-6 flex items-center justify-center gap-2 text-xl font-semibold tracking-tight">
      <span aria-hidden className="grid h-9 w-9 place-items-center rounded-lg bg-sky-500 font-bold text-white">
        B
      </span>
      Berth
    </div>
  );
}
