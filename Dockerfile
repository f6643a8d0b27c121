# The worker image (also runs starter.py and migrations). Build: docker build -t duecourse .
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock
COPY . .
RUN useradd --create-home duecourse
USER duecourse
CMD ["python", "worker.py"]
