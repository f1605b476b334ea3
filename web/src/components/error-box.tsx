export function ErrorBox({ message }: { message: string | undefined }) {
  if (!message) return null;
  return (
    <p class="error-box" role="alert">
      {message}
    </p>
  );
}
